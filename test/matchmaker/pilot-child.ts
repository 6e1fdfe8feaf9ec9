// A pilot-like child process for the lost-heartbeat test: asks for one job, prints its id, and
// heartbeats until it is killed. Settings come from the environment the test passes.
import { connect } from "nats";
import { loadConfig } from "../../platform/config.ts";
import { loadTrust } from "../../security/index.ts";
import { TestPilot } from "./pilot-client.ts";

const env = process.env;
const { names } = loadConfig();
const nc = await connect({ servers: "127.0.0.1:4222" });
const pilot = new TestPilot(nc, names, env.CHILD_SITE ?? "", env.CHILD_TOKEN ?? "");
const body = pilot.open(await pilot.advertise(), loadTrust(env.CHILD_PKI_DIR ?? ""));
process.stdout.write(JSON.stringify({ jobId: body.job.jobId, attempt: body.job.attempt }) + "\n");
for (;;) {
  const r = await pilot.heartbeat(body);
  if (r.status !== "ok") process.stdout.write(JSON.stringify({ heartbeat: r.status }) + "\n");
  await new Promise((res) => setTimeout(res, Number(env.CHILD_HEARTBEAT_MS ?? 200)));
}
