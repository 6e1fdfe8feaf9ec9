import { describe, expect, it } from "vitest";
import { ERR, type EnvelopeBody } from "../../schemas/index.ts";
import { carriedSigner, createBatchEnvelopeSigner, createEnvelopeSigner, generatePilotKeyPair, namingSigner, SignerCache, signerRef, verifyEnvelope } from "../../security/index.ts";
import { expectCode, usePki } from "./support/pki-fixture.ts";
import { sampleEnvelopeBody } from "./support/sample-job.ts";

// A multi-job pilot advertises the signer pair it verified; the envelope then names it instead of
// carrying ~2.9 KB of certificate and delegation. Naming must never let through what carrying would not.
const fixture = usePki();
const pilotKeys = generatePilotKeyPair();
const always = (): boolean => true;
let n = 0;
const body = (pilotId = "pilot-1"): EnvelopeBody => sampleEnvelopeBody(pilotKeys.publicKeyPem, { pilotId, nonce: `nonce-${String(++n).padStart(12, "0")}` });


const verify = (env: unknown, signers?: SignerCache, now?: number) => verifyEnvelope(env, { trust: fixture().trust, pilotId: "pilot-1", isNonceNew: always, signers, now });

describe("signer pairs a pilot already verified", () => {
  it("remembers the pair of a full envelope once it verifies, and accepts later envelopes that name it", async () => {
    const signer = createBatchEnvelopeSigner(fixture().matchmaker);
    const signers = new SignerCache();
    const first = await signer.sign(body());
    verify(first, signers);
    expect(signers.current).toBe(signerRef(carriedSigner(first)!));
    // Lone and batch-signed envelopes alike.
    const [a, b] = await Promise.all([signer.sign(body()), signer.sign(body())]);
    expect(a.batch).toBeDefined();
    for (const env of [a, b, await signer.sign(body())]) {
      const slim = namingSigner(env, signers.current!);
      expect(JSON.stringify(slim).length).toBeLessThan(JSON.stringify(env).length - 2000);
      expect(verify(slim, signers).pilotId).toBe("pilot-1");
    }
  });

  it("refuses an envelope naming a pair this pilot never verified (1702), with or without a cache", async () => {
    const signer = createEnvelopeSigner(fixture().matchmaker);
    const env = signer.sign(body());
    const ref = signerRef(carriedSigner(env)!);
    await expectCode(() => verify(namingSigner(env, ref), new SignerCache()), ERR.SEC_BAD_SIGNATURE);
    await expectCode(() => verify(namingSigner(env, ref)), ERR.SEC_BAD_SIGNATURE);
  });

  it("does not remember the pair of an envelope that fails, and a foreign matchmaker cannot borrow our pair", async () => {
    const ours = createEnvelopeSigner(fixture().matchmaker);
    const foreign = createEnvelopeSigner(fixture().foreignMatchmaker);
    const signers = new SignerCache();
    const forged = ours.sign(body());
    await expectCode(() => verify({ ...forged, body: forged.body.replace("pilot-1", "pilot-2") }, signers), ERR.SEC_BAD_SIGNATURE);
    await expectCode(() => verify(foreign.sign(body()), signers), ERR.SEC_UNTRUSTED_CA);
    expect(signers.current).toBeUndefined();

    verify(ours.sign(body()), signers);
    // A body signed by the foreign key, naming our verified pair: checked against our key, refused.
    await expectCode(() => verify(namingSigner(foreign.sign(body()), signers.current!), signers), ERR.SEC_BAD_SIGNATURE);
    // A body changed under a named pair is refused as it would be in a full envelope.
    const env = namingSigner(ours.sign(body()), signers.current!);
    await expectCode(() => verify({ ...env, body: env.body.replace("pilot-1", "pilot-2") }, signers), ERR.SEC_BAD_SIGNATURE);
  });

  it("checks a remembered pair's validity at every use: an expired delegation is refused", async () => {
    const signer = createEnvelopeSigner(fixture().matchmaker, { delegationLifetimeSec: 60 });
    const signers = new SignerCache();
    verify(signer.sign(body()), signers);
    const later = namingSigner(signer.sign(body()), signers.current!);
    await expectCode(() => verify(later, signers, Date.now() + 120_000), ERR.SEC_CERT_EXPIRED);
  });

  it("refuses an envelope with both a certificate and a name, or with neither", async () => {
    const signers = new SignerCache();
    const env = createEnvelopeSigner(fixture().matchmaker).sign(body());
    verify(env, signers);
    await expectCode(() => verify({ ...env, signerRef: signers.current }, signers), ERR.BAD_INPUT);
    const { signerCert: _cert, delegation: _delegation, ...neither } = env;
    await expectCode(() => verify(neither, signers), ERR.BAD_INPUT);
  });

  it("keeps a bounded number of pairs, the newest advertised", () => {
    const signers = new SignerCache(2);
    const pair = (i: number) => ({ signerCert: `-----BEGIN CERTIFICATE-----${i}` });
    const refs = [0, 1, 2].map((i) => signers.remember(pair(i)));
    expect(signers.current).toBe(refs[2]);
    expect(signers.get(refs[0])).toBeUndefined();
    expect(signers.get(refs[1])).toEqual(pair(1));
  });
});
