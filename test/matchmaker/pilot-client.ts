// A pilot as far as the matchmaker sees one: a machine ad, a token, a key pair, and NATS requests.
// Shared by the service tests, the lost-heartbeat child process and the scale-out test.
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "nats";
import { HeartbeatBatchReply, HeartbeatReply, MatchReply, SCHEMA_VERSION, type EnvelopeBody, type HeartbeatJob, type WireNames } from "../../schemas/index.ts";
import { decryptKeysFromPilot, generatePilotKeyPair, generateReportKey, heartbeatMac, signReport, verifyEnvelope, type ReportKeyPair, type SignableReport, type SignerCache, type TrustStore } from "../../security/index.ts";

const encoder = new TextEncoder();

/** What a heartbeat needs of an envelope body: the job, its lease token and the encrypted heartbeat key. */
export type HeartbeatBody = Pick<EnvelopeBody, "lockToken" | "job" | "encryptedKeys">;

export interface MachineFacts {
  cpus?: number;
  memoryMb?: number;
  walltimeLeftSec?: number;
  opSys?: string;
  /** The machine's own Requirements; the pilot's default refuses jobs that do not fit. */
  requirements?: string;
  pilotId: string;
  site: string;
}

export function machineAd(f: MachineFacts): string {
  return `[
  MyType = "Machine";
  PilotId = "${f.pilotId}";
  Site = "${f.site}";
  Cpus = ${f.cpus ?? 8};
  Memory = ${f.memoryMb ?? 16000};
  WalltimeLeft = ${f.walltimeLeftSec ?? 86400};
  OpSys = "${f.opSys ?? "LINUX"}";
  Requirements = ${f.requirements ?? "TARGET.WalltimeSec <= MY.WalltimeLeft && TARGET.Cores <= MY.Cpus && TARGET.MemoryMb <= MY.Memory"};
]`;
}

export class TestPilot {
  readonly pilotId: string;
  private readonly keys: { readonly publicKeyPem: string; readonly privateKeyPem: string };
  /** The pilot's report key: advertised, bound by the matchmaker to each attempt it is handed. */
  readonly reportKey: ReportKeyPair = generateReportKey();

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: WireNames,
    readonly site: string,
    private readonly token: string,
    private readonly facts: Partial<MachineFacts> = {},
    pilotId?: string,
    keys?: { readonly publicKeyPem: string; readonly privateKeyPem: string },
  ) {
    this.pilotId = pilotId ?? `pilot-${randomBytes(6).toString("hex")}`;
    this.keys = keys ?? generatePilotKeyPair();
  }

  /** Another pilot id on this pilot's connection and key pair: someone posing as that pilot. */
  asPilot(pilotId: string): TestPilot {
    return new TestPilot(this.nc, this.names, this.site, this.token, this.facts, pilotId, this.keys);
  }

  /** The same pilot (id and key pair) advertising at another site with that site's token. */
  atSite(site: string, token: string): TestPilot {
    return new TestPilot(this.nc, this.names, site, token, this.facts, this.pilotId, this.keys);
  }

  get publicKeyPem(): string {
    return this.keys.publicKeyPem;
  }

  /** To open the one-time key in an envelope, as the real pilot does. */
  get privateKeyPem(): string {
    return this.keys.privateKeyPem;
  }

  advertText(overrides: Record<string, unknown> = {}): string {
    return JSON.stringify({
      schemaVersion: SCHEMA_VERSION,
      pilotId: this.pilotId,
      site: this.site,
      token: this.token,
      classad: machineAd({ ...this.facts, pilotId: this.pilotId, site: this.site }),
      publicKey: this.keys.publicKeyPem,
      reportKey: this.reportKey.publicKey,
      sentAt: Date.now(),
      ...overrides,
    });
  }

  async advertise(overrides: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<MatchReply> {
    const r = await this.nc.request(this.names.advertFor(this.site), encoder.encode(this.advertText(overrides)), { timeout: timeoutMs });
    return MatchReply.parseJson(r.data);
  }

  /**
   * The matchmaker sees a newly queued job within its index refresh: advertises again until it does,
   * up to a deadline rather than a count of tries, as a loaded machine makes each advert slower.
   */
  async advertiseUntilMatched(deadlineMs = 30_000): Promise<MatchReply> {
    let reply = await this.advertise();
    for (const until = Date.now() + deadlineMs; reply.status === "nomatch" && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 250));
      reply = await this.advertise();
    }
    return reply;
  }

  /** A report signed with this pilot's report key, as the real pilot sends it. */
  sign<R extends SignableReport>(r: R): R {
    return signReport(r, this.reportKey.privateKey);
  }

  /** Verifies the envelope as the real pilot does (chain, role, pilot id, expiry, nonce). */
  open(reply: MatchReply, trust: TrustStore, signers?: SignerCache): EnvelopeBody {
    if (reply.status !== "match") throw new Error(`expected a match, got ${JSON.stringify(reply)}`);
    return verifyEnvelope(reply.envelope, { trust, pilotId: this.pilotId, isNonceNew: () => true, signers });
  }

  /**
   * The attempt's heartbeat key, opened with this pilot's key as the real pilot does. A pilot the
   * envelope was not for cannot open it, and MACs with a key of its own, as an attacker would.
   */
  heartbeatKeyOf(body: Pick<EnvelopeBody, "encryptedKeys">): string {
    try {
      return decryptKeysFromPilot(this.keys.privateKeyPem, body.encryptedKeys).heartbeatKey;
    } catch {
      return `guess.${randomBytes(32).toString("base64url")}`;
    }
  }

  private entry(b: HeartbeatBody, state: HeartbeatJob["state"], sentAt: number, key?: string): HeartbeatJob {
    const claim = { pilotId: this.pilotId, site: this.site, sentAt, jobId: b.job.jobId, attempt: b.job.attempt, leaseToken: b.lockToken, state };
    return { jobId: b.job.jobId, attempt: b.job.attempt, lockToken: b.lockToken, state, mac: heartbeatMac(key ?? this.heartbeatKeyOf(b), claim) };
  }

  /**
   * One heartbeat for several jobs, on the site's subject (`subject` overrides it, `overrides` the
   * message, `heartbeatKey` the key each job is MACed with).
   */
  async heartbeatBatch(bodies: readonly HeartbeatBody[], o: { state?: HeartbeatJob["state"]; subject?: string; overrides?: Record<string, unknown>; heartbeatKey?: string; sentAt?: number } = {}): Promise<HeartbeatBatchReply> {
    const sentAt = o.sentAt ?? Date.now();
    const jobs = bodies.map((b) => this.entry(b, o.state ?? "running", sentAt, o.heartbeatKey));
    const msg = { schemaVersion: SCHEMA_VERSION, pilotId: this.pilotId, site: this.site, jobs, sentAt, ...o.overrides };
    const r = await this.nc.request(o.subject ?? this.names.heartbeatFor(this.site), encoder.encode(JSON.stringify(msg)), { timeout: 10_000 });
    return HeartbeatBatchReply.parseJson(r.data);
  }

  /** The single-job heartbeat of pilots started before batched heartbeats, on the base subject. */
  async heartbeat(body: HeartbeatBody, overrides: Record<string, unknown> = {}): Promise<HeartbeatReply> {
    const sentAt = Date.now();
    const { jobId, attempt, lockToken, state, mac } = this.entry(body, "running", sentAt);
    const msg = { schemaVersion: SCHEMA_VERSION, pilotId: this.pilotId, jobId, attempt, site: this.site, lockToken, state, sentAt, mac, ...overrides };
    const r = await this.nc.request(this.names.subjects.heartbeat, encoder.encode(JSON.stringify(msg)), { timeout: 10_000 });
    return HeartbeatReply.parseJson(r.data);
  }
}
