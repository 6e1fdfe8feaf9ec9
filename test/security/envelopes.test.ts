import type { RedisClient } from "../../platform/redis-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERR, type EnvelopeBody, type MatchEnvelope } from "../../schemas/index.ts";
import { createEnvelopeSigner, decryptKeysFromPilot, generatePilotKeyPair, NonceStore, verifyEnvelope } from "../../security/index.ts";
import { deleteNamespaceKeys } from "../support/redis-cleanup.ts";
import { testConfig } from "../support/namespace.ts";
import { openRedisAs } from "../support/live-services.ts";
import { buildPki, expectCode, type PkiFixture } from "./support/pki-fixture.ts";
import { sampleEnvelopeBody } from "./support/sample-job.ts";

const loaded = testConfig("envelopes");
const { names } = loaded;
let pki: PkiFixture;
let redis: RedisClient;
const pilotKeys = generatePilotKeyPair();

beforeAll(() => {
  pki = buildPki();
  // The nonce store in Redis, as the services that keep one use it (the intake, for signed batches).
  redis = openRedisAs(loaded, "intake");
});
afterAll(async () => {
  await deleteNamespaceKeys(redis, names.namespace);
  redis.disconnect();
  pki.cleanup();
});

function envelope(over: Partial<EnvelopeBody> = {}, signer = pki.matchmaker): MatchEnvelope {
  return createEnvelopeSigner(signer).sign(sampleEnvelopeBody(pilotKeys.publicKeyPem, over));
}

const always = (): boolean => true;

describe("match envelopes", () => {
  it("verifies a signed envelope and yields the one-time key only to its pilot", () => {
    const body = verifyEnvelope(envelope(), { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always });
    expect(body.job.jobId).toBe("job-1");
    expect(decryptKeysFromPilot(pilotKeys.privateKeyPem, body.encryptedKeys)).toEqual({ proxyKey: "the-one-time-key", heartbeatKey: "test.the-heartbeat-key" });
  });

  it("refuses an envelope with one byte of its body flipped", async () => {
    const env = envelope();
    const i = env.body.indexOf("pilot-1");
    const tampered = { ...env, body: env.body.slice(0, i) + "q" + env.body.slice(i + 1) };
    await expectCode(() => verifyEnvelope(tampered, { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always }), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses an envelope with one byte of its signature flipped", async () => {
    const env = envelope();
    const sig = Buffer.from(env.signature, "base64");
    sig[10] = (sig[10] ?? 0) ^ 0x01;
    await expectCode(() => verifyEnvelope({ ...env, signature: sig.toString("base64") }, { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always }), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses an expired envelope", async () => {
    const env = envelope();
    const { expiresAt } = JSON.parse(env.body) as EnvelopeBody;
    await expectCode(() => verifyEnvelope(env, { trust: pki.trust, pilotId: "pilot-1", now: expiresAt + 1, isNonceNew: always }), ERR.SEC_ENVELOPE_EXPIRED);
  });

  it("refuses an envelope addressed to another pilot", async () => {
    await expectCode(() => verifyEnvelope(envelope(), { trust: pki.trust, pilotId: "pilot-2", isNonceNew: always }), ERR.SEC_WRONG_PILOT);
  });

  it("refuses a replayed nonce, seen through Redis", async () => {
    const nonces = new NonceStore(redis, names);
    const env = envelope();
    const first = await verifyEnvelope(env, { trust: pki.trust, pilotId: "pilot-1", isNonceNew: nonces.isNonceNew });
    expect(first.pilotId).toBe("pilot-1");
    await expectCode(() => verifyEnvelope(env, { trust: pki.trust, pilotId: "pilot-1", isNonceNew: nonces.isNonceNew }), ERR.SEC_NONCE_REPLAYED);
  });

  it("does not burn the nonce of an envelope it refuses for another reason", async () => {
    const seen: string[] = [];
    const env = envelope();
    await expectCode(() => verifyEnvelope(env, { trust: pki.trust, pilotId: "pilot-2", isNonceNew: (n) => (seen.push(n), true) }), ERR.SEC_WRONG_PILOT);
    expect(seen).toEqual([]);
  });

  it("refuses an envelope signed by a matchmaker of another CA", async () => {
    await expectCode(() => verifyEnvelope(envelope({}, pki.foreignMatchmaker), { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always }), ERR.SEC_UNTRUSTED_CA);
  });

  it("refuses an envelope signed by a service without the matchmaker role", async () => {
    await expectCode(() => verifyEnvelope(envelope({}, pki.intake), { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always }), ERR.SEC_NOT_AUTHORIZED);
  });

  it("refuses an envelope whose signer certificate was swapped for a user's", async () => {
    const env = { ...envelope(), signerCert: pki.user.certPem };
    await expectCode(() => verifyEnvelope(env, { trust: pki.trust, pilotId: "pilot-1", isNonceNew: always }), ERR.SEC_NOT_AUTHORIZED);
  });
});
