import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Site } from "../../schemas/index.ts";
import { createJobs } from "./fixtures.ts";
import { TestPilot } from "./pilot-client.ts";
import { startHarness, type Harness } from "./service-harness.ts";

const BANNED = "/DC=org/CN=Banned User";
const TRUSTED_CA = "/DC=org/DC=pilot-wms/CN=Trusted CA";
const site = (name: string, authz: Site["authz"]): Site => ({ name, storagePath: "/tmp", online: true, identitySwitch: "off", capacity: 10, softwareTags: [], authz, mapping: [] });

let h: Harness;

beforeAll(async () => {
  h = await startHarness("mmauthz", {
    sites: [
      site("STRICT", [{ type: "ban-list", dns: [BANNED], cas: [] }, { type: "walltime", limits: { "*": 1000 } }]),
      site("OPEN", []),
      site("CA_AND_ROLE", [{ type: "allow-list", dns: [], cas: [TRUSTED_CA] }, { type: "vo", vos: ["atlas"], roles: ["production"] }]),
    ],
  });
});

afterAll(async () => {
  await h.close();
});

describe("site authorization in matching", () => {
  it("never matches a banned user's job, or one over the site's walltime limit, at that site", async () => {
    const [banned] = await createJobs(h.store, { site: "STRICT", userDn: BANNED, priority: 900 }, 1);
    const [tooLong] = await createJobs(h.store, { site: "STRICT", walltimeSec: 5000, priority: 800 }, 1);
    const [allowed] = await createJobs(h.store, { site: "STRICT", priority: 1 }, 1);
    await h.dispatch.enqueue([banned, tooLong, allowed]);
    const p = new TestPilot(h.nc, h.loaded.names, "STRICT", await h.token("STRICT"));
    expect(p.open(await p.advertise(), h.trust).job.jobId).toBe(allowed.jobId);
    expect((await p.advertise()).status).toBe("nomatch");
    expect((await h.store.getJob(banned.jobId))?.state).toBe("activated");
    expect((await h.store.getJob(tooLong.jobId))?.state).toBe("activated");
  });

  it("matches the same user at a site whose chain admits them", async () => {
    const [job] = await createJobs(h.store, { site: "OPEN", userDn: BANNED }, 1);
    await h.dispatch.enqueue([job]);
    const p = new TestPilot(h.nc, h.loaded.names, "OPEN", await h.token("OPEN"));
    expect(p.open(await p.advertise(), h.trust).job.jobId).toBe(job.jobId);
  });

  it("authorizes the job's owner by the issuing CA and the signed roles the intake recorded", async () => {
    const [fromOtherCa] = await createJobs(h.store, { site: "CA_AND_ROLE", userCaDn: "/DC=org/CN=Other CA", userRoles: ["production"], priority: 900 }, 1);
    const [withoutRole] = await createJobs(h.store, { site: "CA_AND_ROLE", userCaDn: TRUSTED_CA, userRoles: ["user"], priority: 800 }, 1);
    const [production] = await createJobs(h.store, { site: "CA_AND_ROLE", userCaDn: TRUSTED_CA, userRoles: ["production"], priority: 1 }, 1);
    await h.dispatch.enqueue([fromOtherCa, withoutRole, production]);
    const p = new TestPilot(h.nc, h.loaded.names, "CA_AND_ROLE", await h.token("CA_AND_ROLE"));
    expect(p.open(await p.advertise(), h.trust).job.jobId).toBe(production.jobId);
    expect((await p.advertise()).status).toBe("nomatch");
  });
});
