import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ERR, MatchEnvelope, type EnvelopeBody } from "../../schemas/index.ts";
import { createBatchEnvelopeSigner, generatePilotKeyPair, SignerCache, signerRef, verifyEnvelope } from "../../security/index.ts";
import { jsonBytes } from "../../platform/json-bytes.ts";
import { createHash } from "node:crypto";
import { buildBatch, leafHash, rootFromPosition } from "../../security/envelope-batch.ts";
import { expectCode, usePki } from "./support/pki-fixture.ts";
import { sampleEnvelopeBody } from "./support/sample-job.ts";

const fixture = usePki();
const pilotKeys = generatePilotKeyPair();
const always = (): boolean => true;


function body(i: number): EnvelopeBody {
  return sampleEnvelopeBody(pilotKeys.publicKeyPem, { pilotId: `pilot-${i}`, nonce: `nonce-${String(i).padStart(12, "0")}` });
}

/** Envelopes asked for in one turn: signed as one batch. */
async function batchOf(n: number): Promise<MatchEnvelope[]> {
  const signer = createBatchEnvelopeSigner(fixture().matchmaker);
  return Promise.all(Array.from({ length: n }, (_, i) => signer.sign(body(i))));
}

const verifyAs = (env: unknown, i: number) => verifyEnvelope(env, { trust: fixture().trust, pilotId: `pilot-${i}`, isNonceNew: always });

describe("batch-signed match envelopes", () => {
  it("signs envelopes of one turn once, and each verifies alone for its own pilot", async () => {
    const envs = await batchOf(7);
    expect(new Set(envs.map((e) => e.signature)).size).toBe(1);
    envs.forEach((env, i) => {
      expect(MatchEnvelope.parse(env)).toBeTruthy();
      expect(env.batch).toMatchObject({ size: 7, index: i });
      expect(verifyAs(env, i).pilotId).toBe(`pilot-${i}`);
    });
  });

  it("signs a lone envelope directly, with no batch path", async () => {
    const [env] = await batchOf(1);
    expect(env.batch).toBeUndefined();
    expect(verifyAs(env, 0).pilotId).toBe("pilot-0");
  });

  it("refuses a body changed by one byte, a body moved to another leaf, a changed sibling, size or index", async () => {
    const envs = await batchOf(6);
    const env = envs[2];
    const batch = env.batch!;
    const i = env.body.indexOf("pilot-2");
    const attacks: MatchEnvelope[] = [
      { ...env, body: env.body.slice(0, i) + "q" + env.body.slice(i + 1) },
      // Another envelope's valid body under this envelope's path and signature.
      { ...env, body: envs[3].body },
      { ...env, batch: { ...batch, index: 3 } },
      { ...env, batch: { ...batch, size: 5 } },
      { ...env, batch: { ...batch, path: [Buffer.alloc(32).toString("base64"), ...batch.path.slice(1)] } },
      { ...env, batch: { ...batch, path: batch.path.slice(0, -1) } },
      { ...env, batch: undefined },
    ];
    for (const forged of attacks) await expectCode(() => verifyAs(forged, 2), ERR.SEC_BAD_SIGNATURE);
    // The other envelopes of the batch are untouched.
    expect(verifyAs(envs[3], 3).pilotId).toBe("pilot-3");
  });

  it("refuses a body with the signature and path of another batch by the same key", async () => {
    const signer = createBatchEnvelopeSigner(fixture().matchmaker);
    const first = await Promise.all([0, 1, 2].map((i) => signer.sign(body(i))));
    const second = await Promise.all([0, 1, 2].map((i) => signer.sign(body(i + 10))));
    expect(first[0].signature).not.toBe(second[0].signature);
    expect(first[0].delegation).toEqual(second[0].delegation);
    await expectCode(() => verifyAs({ ...second[0], body: first[0].body }, 0), ERR.SEC_BAD_SIGNATURE);
    expect(verifyAs(first[0], 0).pilotId).toBe("pilot-0");
  });

  it("hashes a leaf as SHA-256 over the byte 0 and the body in UTF-8, whatever the body's size or characters", () => {
    // Pilots of every version verify paths: the leaf's bytes must not depend on how they are assembled.
    for (const b of ["", "{}", "Zoë 日本 😀", "x".repeat(5000), "é".repeat(40_000), "y".repeat(70_000), "short again"]) {
      const want = createHash("sha256").update(Buffer.from([0])).update(b, "utf8").digest();
      expect(leafHash(b).equals(want)).toBe(true);
    }
  });

  it("every leaf of any batch size leads to the root, and no other body does", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 2, maxLength: 70 }), fc.nat(), (bodies, pick) => {
        const { root, positions } = buildBatch(bodies);
        bodies.forEach((b, i) => expect(rootFromPosition(b, positions[i])?.equals(root)).toBe(true));
        const i = pick % bodies.length;
        expect(rootFromPosition(`${bodies[i]}x`, positions[i])?.equals(root) ?? false).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
  it("gives the matchmaker the same envelopes with their bodies as bytes: the same reply on the wire, and each verifies", async () => {
    const signer = createBatchEnvelopeSigner(fixture().matchmaker);
    const bodies = [0, 1, 2].map(body);
    const asBytes = await Promise.all(bodies.map((b) => signer.signToBytes(b)));
    expect(new Set(asBytes.map((e) => e.signature)).size).toBe(1);
    asBytes.forEach((env, i) => {
      const text = env.body.toString("utf8");
      // The body's bytes are JSON.stringify's text of the body, and the reply carrying the bytes is
      // the reply carrying that text.
      expect(text).toBe(JSON.stringify(bodies[i]));
      const asSchema: MatchEnvelope = { ...env, body: text };
      expect(jsonBytes({ status: "match", envelope: env }).toString()).toBe(JSON.stringify({ status: "match", envelope: asSchema }));
      expect(verifyAs(JSON.parse(JSON.stringify(asSchema)), i).pilotId).toBe(`pilot-${i}`);
    });
    const [lone] = await Promise.all([signer.signToBytes(body(5))]);
    expect(lone.batch).toBeUndefined();
    expect(verifyAs({ ...lone, body: lone.body.toString("utf8") }, 5).pilotId).toBe("pilot-5");
  });

  it("names the signer pair when the pilot holds the current one, and carries it otherwise", async () => {
    const signer = createBatchEnvelopeSigner(fixture().matchmaker);
    const full = await signer.signToBytes(body(0));
    const ref = signerRef({ signerCert: full.signerCert!, delegation: full.delegation });
    const [named, stale] = await Promise.all([signer.signToBytes(body(1), ref), signer.signToBytes(body(2), "0".repeat(64))]);
    expect(named).toMatchObject({ signerRef: ref });
    expect(named.signerCert).toBeUndefined();
    expect(named.delegation).toBeUndefined();
    expect(stale.signerCert).toBe(full.signerCert);
    const signers = new SignerCache();
    verifyAs({ ...full, body: full.body.toString("utf8") }, 0);
    verifyEnvelope({ ...full, body: full.body.toString("utf8") }, { trust: fixture().trust, pilotId: "pilot-0", isNonceNew: always, signers });
    expect(verifyEnvelope({ ...named, body: named.body.toString("utf8") }, { trust: fixture().trust, pilotId: "pilot-1", isNonceNew: always, signers }).pilotId).toBe("pilot-1");
  });
});
