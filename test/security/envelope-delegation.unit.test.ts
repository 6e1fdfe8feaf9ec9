import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ERR, SCHEMA_VERSION, type EnvelopeBody, type EnvelopeDelegation, type EnvelopeDelegationBody, type MatchEnvelope } from "../../schemas/index.ts";
import { createDataSigner } from "../../security/detached-signature.ts";
import { createEnvelopeDelegate, createEnvelopeSigner, generatePilotKeyPair, verifyEnvelope } from "../../security/index.ts";
import { expectCode, usePki } from "./support/pki-fixture.ts";
import { sampleEnvelopeBody } from "./support/sample-job.ts";

const fixture = usePki();
const pilotKeys = generatePilotKeyPair();
const always = (): boolean => true;


function body(now = Date.now()): EnvelopeBody {
  return sampleEnvelopeBody(pilotKeys.publicKeyPem, {}, now);
}

/** An envelope carrying `delegation`, its body signed by `ecKey`. */
function assemble(delegation: EnvelopeDelegation, ecKey: Parameters<typeof sign>[2], b: EnvelopeBody = body()): MatchEnvelope {
  const text = JSON.stringify(b);
  return { schemaVersion: SCHEMA_VERSION, body: text, signature: sign("sha256", Buffer.from(text), ecKey).toString("base64"), signerCert: fixture().matchmaker.certPem, delegation };
}

function verify(env: MatchEnvelope, now?: number): EnvelopeBody {
  return verifyEnvelope(env, { trust: fixture().trust, pilotId: "pilot-1", isNonceNew: always, ...(now === undefined ? {} : { now }) });
}

describe("envelopes signed by a delegated EC key", () => {
  it("signs with a delegated key by default and the pilot verifies it", () => {
    const env = createEnvelopeSigner(fixture().matchmaker).sign(body());
    expect(env.delegation).toBeDefined();
    const delegation = JSON.parse(env.delegation?.body ?? "{}") as EnvelopeDelegationBody;
    expect(delegation.serviceDn).toContain("matchmaker");
    expect(verify(env).job.jobId).toBe("job-1");
  });

  it("still verifies an RSA-signed envelope that carries no delegation", () => {
    const env = createEnvelopeSigner(fixture().matchmaker, { delegated: false }).sign(body());
    expect(env.delegation).toBeUndefined();
    expect(verify(env).pilotId).toBe("pilot-1");
  });

  it("refuses a delegation signed by a key other than the matchmaker certificate's", async () => {
    // The intake's key is a real service key of the same CA, but not the one in signerCert.
    const forged = createEnvelopeDelegate({ certPem: fixture().matchmaker.certPem, keyPem: fixture().intake.keyPem });
    await expectCode(() => verify(assemble(forged.delegation, forged.privateKey)), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses a genuine delegation whose public key was swapped for the attacker's", async () => {
    const real = createEnvelopeDelegate(fixture().matchmaker);
    const attacker = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const d = JSON.parse(real.delegation.body) as EnvelopeDelegationBody;
    const swapped = { ...real.delegation, body: JSON.stringify({ ...d, publicKey: attacker.publicKey.export({ type: "spki", format: "der" }).toString("base64") }) };
    await expectCode(() => verify(assemble(swapped, attacker.privateKey)), ERR.SEC_BAD_SIGNATURE);
  });

  it("refuses an envelope signed by a key other than the delegated one", async () => {
    const real = createEnvelopeDelegate(fixture().matchmaker);
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    await expectCode(() => verify(assemble(real.delegation, other.privateKey)), ERR.SEC_BAD_SIGNATURE);
    expect(verify(assemble(real.delegation, real.privateKey)).pilotId).toBe("pilot-1");
  });

  it("refuses an expired delegation even on a fresh envelope", async () => {
    const hourAgo = Date.now() - 3_600_000;
    const old = createEnvelopeDelegate(fixture().matchmaker, { now: hourAgo, lifetimeSec: 600 });
    await expectCode(() => verify(assemble(old.delegation, old.privateKey)), ERR.SEC_CERT_EXPIRED);
  });

  it("refuses a delegation that is not yet valid", async () => {
    const later = createEnvelopeDelegate(fixture().matchmaker, { now: Date.now() + 3_600_000 });
    await expectCode(() => verify(assemble(later.delegation, later.privateKey)), ERR.SEC_CERT_EXPIRED);
  });

  it("refuses a delegation that claims to last longer than a day", async () => {
    const long = createEnvelopeDelegate(fixture().matchmaker, { lifetimeSec: 3 * 24 * 3600 });
    await expectCode(() => verify(assemble(long.delegation, long.privateKey)), ERR.SEC_CERT_EXPIRED);
  });

  it("refuses a delegation that names another service than the signer certificate", async () => {
    const named = createEnvelopeDelegate({ ...fixture().matchmaker, serviceDn: "/DC=org/CN=someone else" });
    await expectCode(() => verify(assemble(named.delegation, named.privateKey)), ERR.SEC_NOT_AUTHORIZED);
  });

  it("refuses a delegation whose body is not a delegation, even when signed", async () => {
    const text = JSON.stringify({ schemaVersion: SCHEMA_VERSION, publicKey: "not a key at all", notBefore: 0 });
    const bogus = { body: text, signature: createDataSigner(fixture().matchmaker.keyPem).sign(text) };
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    await expectCode(() => verify(assemble(bogus, ec.privateKey)), ERR.BAD_INPUT);
  });

  it("rotates the delegated key at half its lifetime, and both keys verify in their time", () => {
    let clock = Date.now();
    const signer = createEnvelopeSigner(fixture().matchmaker, { delegationLifetimeSec: 600, now: () => clock });
    const first = signer.sign(body(clock));
    const sameKey = signer.sign(body(clock));
    expect(sameKey.delegation).toEqual(first.delegation);
    expect(verify(first, clock).pilotId).toBe("pilot-1");
    clock += 301_000;
    const second = signer.sign(body(clock));
    expect(second.delegation?.body).not.toBe(first.delegation?.body);
    expect(verify(second, clock).pilotId).toBe("pilot-1");
  });
});
