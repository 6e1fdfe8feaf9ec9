// Attacks on signed requests and on who may sign what: a captured task batch replayed, an expired
// one, a pilot trusting a user certificate that holds the matchmaker role, a DN that only looks
// like a proxy's. Each test fails if the attack succeeds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR } from "../../schemas/index.ts";
import { createEnvelopeSigner, createProxy, generatePilotKeyPair, issueCertificate, signTaskBatch, verifyChain, verifyEnvelope } from "../../security/index.ts";
import { authorize } from "../../site-authz/index.ts";
import { lfns, siteConfig, startIntakeHarness, type IntakeHarness } from "../intake/support/intake-harness.ts";
import { siteWith } from "../site-authz/support/site-fixture.ts";
import { expectCode } from "./support/pki-fixture.ts";
import { sampleEnvelopeBody } from "./support/sample-job.ts";

let h: IntakeHarness;

beforeAll(async () => {
  h = await startIntakeHarness("attackreq");
  await h.sites.publish(siteConfig([{ name: "CERN", capacity: 100 }]));
  await h.catalog.addFiles("ds.a", lfns("a", 4), ["CERN"]);
});

afterAll(async () => {
  await h?.close();
});

describe("replayed and stale requests", () => {
  it("accepts a signed task batch once and refuses 4 byte-for-byte replays (E1706), creating one task", async () => {
    const before = (await h.jobs.listTasks({ limit: 1000 })).length;
    const signed = h.sign(h.batch({ kind: "production", taskName: "replayed" }), h.people.prod);
    expect((await h.client.submit(signed)).status).toBe("ok");
    for (let i = 0; i < 4; i++) await expectCode(() => h.client.submit(signed), ERR.SEC_NONCE_REPLAYED);
    expect((await h.jobs.listTasks({ limit: 1000 })).length).toBe(before + 1);
  });

  it("refuses a batch past its expiry, one valid for too long, and one with its nonce stripped", async () => {
    const old = signTaskBatch(h.batch({ kind: "production" }), h.people.prod, { now: Date.now() - 3_600_000 });
    await expectCode(() => h.client.submit(old), ERR.SEC_REQUEST_EXPIRED);
    const forever = signTaskBatch(h.batch({ kind: "production" }), h.people.prod, { validityMs: 30 * 86_400_000 });
    await expectCode(() => h.client.submit(forever), ERR.SEC_REQUEST_EXPIRED);
    // Issued at a time no Date holds: refused for its time, not an internal error (E1000) on toISOString.
    const beyond = signTaskBatch(h.batch({ kind: "production" }), h.people.prod, { now: 8.64e15 + 1, validityMs: 60_000 });
    await expectCode(() => h.client.submit(beyond), ERR.SEC_REQUEST_EXPIRED);
    // An old client's batch (no stamps), signed properly: refused, not accepted as replayable.
    const bare = JSON.stringify(h.batch({ kind: "production" }));
    const { signData } = await import("../../security/index.ts");
    await expectCode(() => h.client.submit({ schemaVersion: 1, batch: bare, signature: signData(bare, h.people.prod.keyPem), certChain: h.people.prod.certChain }), ERR.SEC_REQUEST_EXPIRED);
  });
});

describe("who may sign envelopes", () => {
  const pilotKeys = generatePilotKeyPair();

  it("refuses an envelope signed by a user or pilot certificate that holds the matchmaker role", () => {
    for (const kind of ["user", "pilot"] as const) {
      const impostor = issueCertificate({ caDir: h.pkiDir, kind, dn: `/DC=org/DC=pilot-wms/CN=${kind} with matchmaker role`, roles: ["matchmaker"], keyBits: 1024 });
      for (const delegated of [true, false]) {
        const env = createEnvelopeSigner(impostor, { delegated }).sign(sampleEnvelopeBody(pilotKeys.publicKeyPem));
        expect(() => verifyEnvelope(env, { trust: h.trust, pilotId: "pilot-1", isNonceNew: () => true })).toThrow(expect.objectContaining({ code: ERR.SEC_NOT_AUTHORIZED }));
      }
    }
  });
});

describe("DN normalisation", () => {
  it("does not map an end-entity certificate named /…/CN=Alice/CN=4242 to Alice; a real proxy of Alice stays Alice", () => {
    const aliceDn = "/DC=org/DC=pilot-wms/CN=Alice";
    const alice = issueCertificate({ caDir: h.pkiDir, kind: "user", dn: aliceDn, keyBits: 1024 });
    const lookalike = issueCertificate({ caDir: h.pkiDir, kind: "user", dn: `${aliceDn}/CN=4242`, keyBits: 1024 });
    const site = siteWith({ authz: [{ type: "allow-list", dns: [aliceDn], cas: [] }] });

    const proxy = createProxy({ certPem: alice.certPem, keyPem: alice.keyPem, lifetimeSec: 600, keyBits: 1024 });
    const viaProxy = verifyChain(proxy.chain, h.trust);
    expect(viaProxy.dn).toBe(aliceDn);
    expect(authorize(site, viaProxy).allowed).toBe(true);

    const other = verifyChain([lookalike.certPem], h.trust);
    expect(other.dn).toBe(`${aliceDn}/CN=4242`);
    expect(authorize(site, other)).toMatchObject({ allowed: false, code: ERR.AUTHZ_NOT_ALLOWED });
  });
});
