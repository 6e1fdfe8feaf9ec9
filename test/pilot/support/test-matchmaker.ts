// A matchmaker stand-in for pilot tests: answers adverts from a list the test fills, with envelopes
// signed by the real security core (the matchmaker service certificate from `wms pki init`), and
// answers heartbeats. The real matchmaker's brokering is not what these tests are about.
import { randomBytes } from "node:crypto";
import type { NatsConnection, Subscription } from "nats";
import { HeartbeatBatch, MachineAdvert, SCHEMA_VERSION, type EnvelopeBody, type HeartbeatBatchReply, type HeartbeatJob, type HeartbeatJobReply, type JobSpec, type MatchEnvelope, type MatchReply, type WireNames } from "../../../schemas/index.ts";
import { carriedSigner, createEnvelopeSigner, encryptKeysToPilot, namingSigner, signerRef } from "../../../security/index.ts";

export interface OfferedJob {
  readonly job: JobSpec;
  readonly submitterDn: string;
  /** Alters the signed envelope before it is sent, to play an attacker. */
  readonly tamper?: (env: MatchEnvelope) => MatchEnvelope;
  /** Writes the envelope's `encryptedKeys` instead of encrypting both keys to the advert's key, to play a matchmaker that got it wrong. */
  readonly encryptedKeys?: (advertKey: string, proxyKey: string) => string;
  /** Answer heartbeats for this job with `cancelled` from the n-th on. */
  readonly cancelAtBeat?: number;
}

export interface TestMatchmaker {
  offer(job: OfferedJob): void;
  readonly adverts: MachineAdvert[];
  /** Every job's beat, in the order heard (a pilot's batch adds one per job it names). */
  readonly heartbeats: (HeartbeatJob & { readonly pilotId: string; readonly site: string })[];
  /** The batches as they came, each with the subject it came on. */
  readonly batches: { readonly subject: string; readonly batch: HeartbeatBatch }[];
  readonly lockTokens: Map<string, string>;
  stop(): void;
}

const enc = new TextEncoder();

/**
 * `mintKey` issues the one-time proxy key at match time, bound to the job, its user and the pilot
 * that advertised (the real OneTimeKeyStore, as the matchmaker does).
 */
export function startTestMatchmaker(
  nc: NatsConnection,
  names: WireNames,
  service: { certPem: string; keyPem: string },
  mintKey: (job: JobSpec, pilotId: string) => Promise<string>,
): TestMatchmaker {
  const signer = createEnvelopeSigner(service);
  const queue: OfferedJob[] = [];
  const adverts: MachineAdvert[] = [];
  const heartbeats: TestMatchmaker["heartbeats"] = [];
  const batches: TestMatchmaker["batches"] = [];
  const lockTokens = new Map<string, string>();
  const beatsByJob = new Map<string, number>();
  const offered = new Map<string, OfferedJob>();
  const subs: Subscription[] = [];

  const answerAdvert = async (data: Uint8Array): Promise<MatchReply> => {
    const ad = MachineAdvert.parseJson(data);
    adverts.push(ad);
    const next = queue.shift();
    if (!next) return { schemaVersion: SCHEMA_VERSION, status: "nomatch", backoffSec: 0.05, reason: "no waiting job matches" };
    const lockToken = randomBytes(12).toString("hex");
    lockTokens.set(next.job.jobId, lockToken);
    offered.set(next.job.jobId, next);
    const now = Date.now();
    const body: EnvelopeBody = {
      schemaVersion: SCHEMA_VERSION,
      job: next.job,
      submitterDn: next.submitterDn,
      pilotId: ad.pilotId,
      lockToken,
      // The pilot MACs its heartbeats with the second key; this stand-in does not check them (the real matchmaker's tests do).
      encryptedKeys: next.encryptedKeys
        ? next.encryptedKeys(ad.publicKey, await mintKey(next.job, ad.pilotId))
        : encryptKeysToPilot(ad.publicKey, { proxyKey: await mintKey(next.job, ad.pilotId), heartbeatKey: `test.${randomBytes(32).toString("base64url")}` }),
      nonce: randomBytes(16).toString("hex"),
      issuedAt: now,
      expiresAt: now + 60_000,
    };
    const signed = signer.sign(body);
    // As the real matchmaker does: a pilot that verified this signer pair gets it named, not sent.
    const carried = carriedSigner(signed);
    const envelope: MatchEnvelope = carried && ad.knownSigner === signerRef(carried) ? namingSigner(signed, ad.knownSigner) : signed;
    return { schemaVersion: SCHEMA_VERSION, status: "match", envelope: next.tamper ? next.tamper(envelope) : envelope };
  };
  subs.push(
    nc.subscribe(`${names.subjects.advert}.*`, {
      callback: (_err, msg) => {
        void answerAdvert(msg.data).then((reply) => msg.respond(enc.encode(JSON.stringify(reply))));
      },
    }),
  );
  subs.push(
    nc.subscribe(`${names.subjects.heartbeat}.*`, {
      callback: (_err, msg) => {
        const batch = HeartbeatBatch.parseJson(msg.data);
        batches.push({ subject: msg.subject, batch });
        const jobs = batch.jobs.map((hb): HeartbeatJobReply => {
          heartbeats.push({ ...hb, pilotId: batch.pilotId, site: batch.site });
          const n = (beatsByJob.get(hb.jobId) ?? 0) + 1;
          beatsByJob.set(hb.jobId, n);
          const o = offered.get(hb.jobId);
          return o?.cancelAtBeat !== undefined && n >= o.cancelAtBeat
            ? { jobId: hb.jobId, status: "cancelled", reason: "cancelled by its owner" }
            : { jobId: hb.jobId, status: "ok", lockedUntil: Date.now() + 60_000 };
        });
        const reply: HeartbeatBatchReply = { schemaVersion: SCHEMA_VERSION, status: "ok", jobs };
        msg.respond(enc.encode(JSON.stringify(reply)));
      },
    }),
  );
  return {
    offer: (j) => queue.push(j),
    adverts,
    heartbeats,
    batches,
    lockTokens,
    stop: () => subs.forEach((s) => s.unsubscribe()),
  };
}
