// A matchmaker stand-in for pilot tests: answers adverts from a list the test fills, with envelopes
// signed by the real security core (the matchmaker service certificate from `wms pki init`), and
// answers heartbeats. The real matchmaker's brokering is not what these tests are about.
import { randomBytes } from "node:crypto";
import type { NatsConnection, Subscription } from "nats";
import { Heartbeat, MachineAdvert, SCHEMA_VERSION, type EnvelopeBody, type HeartbeatReply, type JobSpec, type MatchEnvelope, type MatchReply, type WireNames } from "../../../schemas/index.ts";
import { createEnvelopeSigner, encryptToPilot } from "../../../security/index.ts";

export interface OfferedJob {
  readonly job: JobSpec;
  readonly submitterDn: string;
  /** The one-time proxy key issued with this job; encrypted to the pilot's advertised key. */
  readonly oneTimeKey: string;
  /** Alters the signed envelope before it is sent, to play an attacker. */
  readonly tamper?: (env: MatchEnvelope) => MatchEnvelope;
  /** Answer heartbeats for this job with `cancelled` from the n-th on. */
  readonly cancelAtBeat?: number;
}

export interface TestMatchmaker {
  offer(job: OfferedJob): void;
  readonly adverts: MachineAdvert[];
  readonly heartbeats: Heartbeat[];
  readonly lockTokens: Map<string, string>;
  stop(): void;
}

const enc = new TextEncoder();

export function startTestMatchmaker(nc: NatsConnection, names: WireNames, service: { certPem: string; keyPem: string }): TestMatchmaker {
  const signer = createEnvelopeSigner(service);
  const queue: OfferedJob[] = [];
  const adverts: MachineAdvert[] = [];
  const heartbeats: Heartbeat[] = [];
  const lockTokens = new Map<string, string>();
  const beatsByJob = new Map<string, number>();
  const offered = new Map<string, OfferedJob>();
  const subs: Subscription[] = [];

  subs.push(
    nc.subscribe(names.subjects.advert, {
      callback: (_err, msg) => {
        const ad = MachineAdvert.parseJson(msg.data);
        adverts.push(ad);
        const next = queue.shift();
        let reply: MatchReply;
        if (!next) reply = { schemaVersion: SCHEMA_VERSION, status: "nomatch", backoffSec: 0.05, reason: "no waiting job matches" };
        else {
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
            encryptedProxyKey: encryptToPilot(ad.publicKey, next.oneTimeKey),
            nonce: randomBytes(16).toString("hex"),
            issuedAt: now,
            expiresAt: now + 60_000,
          };
          const envelope = signer.sign(body);
          reply = { schemaVersion: SCHEMA_VERSION, status: "match", envelope: next.tamper ? next.tamper(envelope) : envelope };
        }
        msg.respond(enc.encode(JSON.stringify(reply)));
      },
    }),
  );
  subs.push(
    nc.subscribe(names.subjects.heartbeat, {
      callback: (_err, msg) => {
        const hb = Heartbeat.parseJson(msg.data);
        heartbeats.push(hb);
        const n = (beatsByJob.get(hb.jobId) ?? 0) + 1;
        beatsByJob.set(hb.jobId, n);
        const o = offered.get(hb.jobId);
        const reply: HeartbeatReply =
          o?.cancelAtBeat !== undefined && n >= o.cancelAtBeat
            ? { schemaVersion: SCHEMA_VERSION, status: "cancelled", reason: "cancelled by its owner" }
            : { schemaVersion: SCHEMA_VERSION, status: "ok", lockedUntil: Date.now() + 60_000 };
        msg.respond(enc.encode(JSON.stringify(reply)));
      },
    }),
  );
  return {
    offer: (j) => queue.push(j),
    adverts,
    heartbeats,
    lockTokens,
    stop: () => subs.forEach((s) => s.unsubscribe()),
  };
}
