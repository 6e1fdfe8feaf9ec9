// The intake refuses a task whose owner has no delegated credential that outlives a job's walltime,
// asking the real credential cache as itself (the intake's service certificate), and accepts it
// with a warning when the submitter asked only to be warned.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { readServiceCredentials } from "../../security/index.ts";
import { CredentialClient, startCredentialCache, type CredentialCache } from "../../agents/credentials/index.ts";
import type { OwnerCredentialLookup } from "../../matchmaker/intake-credential-check.ts";
import { lfns, siteConfig, startIntakeHarness, type IntakeHarness, type Person } from "./support/intake-harness.ts";

let h: IntakeHarness;
let cache: CredentialCache;
let lookup: OwnerCredentialLookup | undefined;

async function delegate(who: Person, lifetimeSec: number): Promise<void> {
  await new CredentialClient(h.nc, h.loaded.names, { trust: h.trust }).delegate(who, { retrievers: ["role:pilot"], lifetimeSec });
}

async function refusal(p: Promise<unknown>): Promise<{ code?: number; message?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: number; message?: string };
  }
  return {};
}

beforeAll(async () => {
  h = await startIntakeHarness("intakecred", { credentials: { info: (dn) => (lookup as OwnerCredentialLookup).info(dn) } });
  const config = { ...h.loaded.config, pki: { dir: h.pkiDir }, credentials: { ...h.loaded.config.credentials, encryptionKey: randomBytes(32).toString("base64") } };
  cache = startCredentialCache({ nc: await h.connect("credentials"), redis: h.redis, names: h.loaded.names, config, trust: h.trust });
  // Its subscriptions are in place before anything asks it (under load a request could find no responder).
  await cache.ready;
  const own = readServiceCredentials(h.pkiDir, "intake");
  const caller = { certChain: [own.certPem], keyPem: own.keyPem };
  // The intake asks as itself: its own identity on NATS too.
  const client = new CredentialClient(await h.connect("intake"), h.loaded.names, { trust: h.trust, caller });
  lookup = { info: (dn) => client.info(caller, dn) };
  await h.sites.publish(siteConfig([{ name: "CERN" }]));
  await h.catalog.addFiles("ds.a", lfns("a", 2), ["CERN"]);
  await delegate(h.people.bob, 3600);
});

afterAll(async () => {
  await cache?.stop();
  await h?.close();
});

describe("intake credential check", () => {
  it("refuses a task whose owner never delegated a credential with 2302, and records nothing", async () => {
    const before = (await h.jobs.listTasks()).length;
    const r = await refusal(h.client.submit(h.sign(h.batch({ kind: "analysis" }), h.people.alice)));
    expect(r.code).toBe(ERR.CREDENTIAL_NOT_STORED);
    expect(r.message).toContain(h.people.alice.dn);
    expect(await h.jobs.listTasks()).toHaveLength(before);
  });

  it("refuses a task whose jobs would outlive the owner's credential with 2303, naming both durations", async () => {
    const r = await refusal(h.client.submit(h.sign(h.batch({ kind: "analysis", jobTemplate: { executable: "/bin/true", walltimeSec: 7200 } }), h.people.bob)));
    expect(r.code).toBe(ERR.CREDENTIAL_TOO_SHORT);
    expect(r.message).toMatch(/has 1\.0 h left, a job's walltime is 2\.0 h/);
  });

  it("accepts the same task with the warning when the submitter asked only to be warned", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", proxyCheck: "warn", jobTemplate: { executable: "/bin/true", walltimeSec: 7200 } }), h.people.bob));
    expect(r).toMatchObject({ status: "ok", jobs: 2, queued: 2 });
    expect(r.warnings).toEqual([expect.stringMatching(/^E2303 CREDENTIAL_TOO_SHORT: .*accepted/)]);
  });

  it("accepts, without a warning, a task whose owner's credential outlives a job's walltime", async () => {
    const r = await h.client.submit(h.sign(h.batch({ kind: "analysis", jobTemplate: { executable: "/bin/true", walltimeSec: 600 } }), h.people.bob));
    expect(r).toMatchObject({ status: "ok", jobs: 2 });
    expect(r.warnings).toBeUndefined();
  });

  it("lets the intake, and no other user, ask about someone else's credential", async () => {
    expect(await lookup?.info(h.people.bob.dn)).toMatchObject({ found: true, username: h.people.bob.dn });
    const alice = { certChain: h.people.alice.certChain, keyPem: h.people.alice.keyPem };
    const asAlice = new CredentialClient(h.nc, h.loaded.names, { trust: h.trust, caller: alice });
    expect((await refusal(asAlice.info(alice, h.people.bob.dn))).code).toBe(ERR.SEC_NOT_AUTHORIZED);
  });
});
