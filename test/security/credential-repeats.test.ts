// A pilot whose retrieval is not answered within its timeout sends the same signed request again;
// on a slow cache (a loaded cluster's start-up) each copy was retrieved anew. Here the job's state
// owner is held back (the `jobs` port waits for the test) so the first copy stays in flight while
// the others arrive: copies share the first one's work and reply, and nobody else's request does.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredReply, ERR, SCHEMA_VERSION, type AuditRecord, type CredRetrieveBody, type CredSignedRequest } from "../../schemas/index.ts";
import { createProxyRequest, encryptToCertificate, issueCertificate, readServiceCredentials, signData, verifyChain, type CertificateAndKey } from "../../security/index.ts";
import { testConfig } from "../support/namespace.ts";
import { startCredentialStage, STAGE_SITE, type CredentialStage } from "./support/credential-stage.ts";
import { BITS, USER_DN } from "./support/pki-fixture.ts";

const loaded = testConfig("credrepeat");
const { names } = loaded;
const enc = new TextEncoder();
let stage: CredentialStage;
let otherPilot: CertificateAndKey;
/** The cache's log: each copy answered with the first one's reply is a debug line. */
const logLines: string[] = [];
/** The audit records the cache publishes: one `credential-retrieval` per proxy it issued. */
const audited: AuditRecord[] = [];
/** How often the cache asked the job's state owner about each job: once per retrieval it worked on. */
const lookups = new Map<string, number>();
let release: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();

function hold(): void {
  held = new Promise((r) => (release = r));
}

beforeAll(async () => {
  stage = await startCredentialStage(loaded, "credrepeat", {
    logger: pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) }),
    reports: { publish: async (r) => void audited.push(r) },
    jobs: {
      attemptOf: async (jobId) => {
        lookups.set(jobId, (lookups.get(jobId) ?? 0) + 1);
        await held;
        return { state: "starting", attempt: 1, pilotId: "pilot-1", site: STAGE_SITE };
      },
    },
  });
  otherPilot = issueCertificate({ caDir: stage.pki.dir, keyBits: BITS, kind: "pilot", dn: "/DC=org/DC=pilot-wms/OU=Pilots/CN=another pilot owner" });
});

afterAll(async () => {
  release();
  await stage?.stop();
});

let seq = 0;
/** A retrieval's body as a pilot signs it (CredentialClient's), with a fresh one-time key. */
async function retrievalBody(): Promise<CredRetrieveBody> {
  const { oneTimeKey, ...b } = await stage.mint(`job-${++seq}`);
  const cacheCert = readServiceCredentials(stage.pki.dir, "credentials").certPem;
  const { csrPem } = await createProxyRequest({ keyBits: BITS });
  return { schemaVersion: SCHEMA_VERSION, op: "retrieve", ...b, oneTimeKey: encryptToCertificate(cacheCert, oneTimeKey), csr: csrPem, issuedAt: Date.now() };
}

function signedBy(who: CertificateAndKey, body: CredRetrieveBody): CredSignedRequest {
  const text = JSON.stringify(body);
  return { schemaVersion: SCHEMA_VERSION, body: text, signature: signData(text, who.keyPem), certChain: [who.certPem] };
}

async function send(req: CredSignedRequest): Promise<CredReply> {
  const m = await stage.pilotNc.request(names.subjects.credRetrieve, enc.encode(JSON.stringify(req)), { timeout: 120_000 });
  return CredReply.parseJson(m.data);
}

const repeatsAnswered = (): number => logLines.filter((l) => l.includes("asked again while the first copy is handled")).length;

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 600) throw new Error(`still waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The pilot's retrieval of a new job's proxy, sent and held at the job's state owner until
 * release(); `shared`: the copies answered with another's reply so far.
 */
async function pilotRetrievalHeld(): Promise<{ body: CredRetrieveBody; request: CredSignedRequest; first: Promise<CredReply>; shared: number }> {
  hold();
  const body = await retrievalBody();
  const request = signedBy(stage.pki.pilot, body);
  const first = send(request);
  await until("the first request to reach the job's state owner", () => lookups.get(body.jobId) === 1);
  return { body, request, first, shared: repeatsAnswered() };
}

describe("a retrieval asked again while the first copy is in flight", () => {
  it("is worked on once, and every copy gets the first one's proxy", async () => {
    const { body, request, first, shared } = await pilotRetrievalHeld();
    const copies = [send(request), send(request)];
    // Each copy either joins the first or, handled anew, asks the state owner again.
    await until("both copies to arrive", () => repeatsAnswered() - shared + (lookups.get(body.jobId) ?? 0) - 1 >= 2);
    expect(lookups.get(body.jobId)).toBe(1);
    release();
    const replies = await Promise.all([first, ...copies]);
    const chains = replies.map((r) => (r.status === "ok" && r.op === "retrieve" ? r.proxyChain : r));
    expect(chains[1]).toEqual(chains[0]);
    expect(chains[2]).toEqual(chains[0]);
    expect(verifyChain(chains[0] as string[], stage.pki.trust).dn).toBe(USER_DN);
    expect(audited.filter((r) => r.event === "credential-retrieval" && r.jobId === body.jobId)).toHaveLength(1);
  });

  it("shares nothing with another requester's request for the same job, key and key pair", async () => {
    const { body, request: mine, first, shared } = await pilotRetrievalHeld();
    // A user outside the retrieval policy sends the very body the pilot signed, signed by itself:
    // refused on its own while the pilot's is in flight, not handed the pilot's proxy.
    const outsider = await send(signedBy(stage.pki.otherUser, body));
    expect(outsider).toMatchObject({ status: "error", code: ERR.SEC_NOT_AUTHORIZED });
    // The pilot's signature under someone else's chain does not verify.
    const swapped = await send({ ...mine, certChain: [stage.pki.otherUser.certPem] });
    expect(swapped).toMatchObject({ status: "error", code: ERR.SEC_BAD_SIGNATURE });
    // Another pilot, allowed by the policy, is checked and worked on for itself.
    const second = send(signedBy(otherPilot, body));
    await until("the other pilot's request to reach the job's state owner", () => lookups.get(body.jobId) === 2);
    expect(repeatsAnswered()).toBe(shared);
    release();
    expect(await first).toMatchObject({ status: "ok", op: "retrieve" });
    expect(await second).toMatchObject({ status: "ok", op: "retrieve" });
    const otherDn = verifyChain([otherPilot.certPem], stage.pki.trust).dn;
    expect(audited.filter((r) => r.jobId === body.jobId && r.event === "credential-retrieval").map((r) => r.detail)).toContain(`retrieve by ${otherDn}`);
  });
});
