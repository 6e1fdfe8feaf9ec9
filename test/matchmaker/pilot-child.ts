// A pilot-like child process for the lost-heartbeat test: asks for one job, prints its id, and
// heartbeats until it is killed. Settings come from the environment the test passes.
import { openNats } from "../../platform/connections.ts";
import { loadConfig } from "../../platform/config.ts";
import { loadTrust } from "../../security/index.ts";
import { TestPilot } from "./pilot-client.ts";

const env = process.env;
// As `wms pilot` connects: the config and identity (WMS_IDENTITY_FILE) it was started with.
const { config, names } = loadConfig();
const nc = await openNats(config, "pilot-child");
const pilot = new TestPilot(nc, names, env.CHILD_SITE ?? "", env.CHILD_TOKEN ?? "");
const body = pilot.open(await pilot.advertise(), loadTrust(env.CHILD_PKI_DIR ?? ""));
process.stdout.write(JSON.stringify({ jobId: body.job.jobId, attempt: body.job.attempt }) + "\n");
for (;;) {
  const r = await pilot.heartbeat(body);
  if (r.status !== "ok") process.stdout.write(JSON.stringify({ heartbeat: r.status }) + "\n");
  await new Promise((res) => setTimeout(res, Number(env.CHILD_HEARTBEAT_MS ?? 200)));
}
