// Heartbeats authenticated by the attempt's heartbeat key. Pilots share one NATS identity and
// inbox prefix, so any pilot (or a payload holding its pilot's identity) can read another pilot's
// match reply: job id, attempt, lease token. Those alone must not renew a lease, or a dead pilot's
// job would be requeued only when the reader stops renewing it.
//
// The matchmaker derives one key per attempt from a secret only matchmakers hold (the `heartbeat`
// seal key): HMAC(key, job, attempt, lease token, pilot). It sends that key to the pilot encrypted
// to the pilot's advertised public key (as it does the one-time proxy key), so only the pilot the
// job was handed to learns it. The pilot MACs each job of its heartbeat with it; any matchmaker
// recomputes the key from the job the heartbeat names and checks the MAC before the lease is
// renewed. No state: nothing is stored per attempt, no Redis read is added to the heartbeat path,
// and a matchmaker that never saw the claim checks it as well as the one that made it.
//
// Why an HMAC and not the attempt's Ed25519 report key: a report-key signature costs ~60-100 µs to
// verify (`reports.reportVerifyUs` in the bench) and the matchmaker would first have to read the
// key from the job's record; the two HMACs here cost a few µs and read nothing. What a signature
// adds, a checker that cannot sign, buys nothing: the checkers are the matchmakers that hand out
// the leases. Keyed hashing: RFC 2104.
import { createHmac } from "node:crypto";
import { macTextEquals, sealUnder, type SealKeyring } from "./service-seal.ts";

export const HEARTBEAT_SEAL_PURPOSE = "heartbeat";

/** What an attempt's heartbeat key is bound to: the claim the matchmaker made. */
export interface HeartbeatBinding {
  readonly jobId: string;
  readonly attempt: number;
  readonly leaseToken: string;
  readonly pilotId: string;
}

/** One job of a heartbeat, as the pilot sends it: the MAC covers all of it. */
export interface HeartbeatClaim extends HeartbeatBinding {
  readonly site: string;
  readonly state: string;
  readonly sentAt: number;
}

function bindingText(b: HeartbeatBinding): string {
  return JSON.stringify([b.jobId, b.attempt, b.leaseToken, b.pilotId]);
}

function claimText(c: HeartbeatClaim): string {
  return JSON.stringify([HEARTBEAT_SEAL_PURPOSE, c.pilotId, c.site, c.sentAt, c.jobId, c.attempt, c.leaseToken, c.state]);
}

/**
 * The attempt's heartbeat key, `<seal key id>.<base64url HMAC>`: the matchmaker's current seal
 * key over the binding. The pilot gets it encrypted and treats it as an opaque secret.
 */
export function heartbeatKeyFor(keys: SealKeyring, b: HeartbeatBinding): string {
  const k = keys.current();
  return `${k.id}.${sealUnder(k, HEARTBEAT_SEAL_PURPOSE, bindingText(b))}`;
}

// Digested straight to base64url text: a digest Buffer per job of every heartbeat cost more heap than the hashing.
function macOf(heartbeatKey: string, c: HeartbeatClaim): string {
  return createHmac("sha256", heartbeatKey).update(claimText(c)).digest("base64url");
}

/** The pilot's MAC over one job of its heartbeat: `<seal key id>.<base64url HMAC>` (the id tells which matchmaker key made the attempt's key). */
export function heartbeatMac(heartbeatKey: string, c: HeartbeatClaim): string {
  const dot = heartbeatKey.indexOf(".");
  return `${heartbeatKey.slice(0, Math.max(0, dot))}.${macOf(heartbeatKey, c)}`;
}

/** True when `mac` was made with the heartbeat key of the attempt `c` names (current or previous seal key). */
export function heartbeatMacHolds(keys: SealKeyring, c: HeartbeatClaim, mac: string | undefined): boolean {
  if (typeof mac !== "string") return false;
  const dot = mac.indexOf(".");
  if (dot <= 0) return false;
  const k = keys.byId(mac.slice(0, dot));
  if (k === undefined) return false;
  const key = `${k.id}.${sealUnder(k, HEARTBEAT_SEAL_PURPOSE, bindingText(c))}`;
  return macTextEquals(mac.slice(dot + 1), macOf(key, c));
}
