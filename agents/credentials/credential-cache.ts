// The credential cache service (MyProxy's role: Novotny, Tuecke, Welch, "An Online Credential
// Repository for the Grid: MyProxy", HPDC 2001): stores users' delegated proxies
// encrypted, and releases one only to an authenticated caller that (a) satisfies the proxy's
// retrieval policy and (b) presents the one-time key minted with that job, bound to that user,
// job and pilot. NATS request/reply in a queue group, so instances share the load; all state is
// in Redis. Bad input gets an error reply with its code and changes nothing.
import { createHash, createPrivateKey, createPublicKey, randomUUID, X509Certificate } from "node:crypto";
import type { NatsConnection } from "nats";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { Logger } from "../../platform/logger.ts";
import { serveRequests, type RequestReplyService } from "../../platform/request-reply-service.ts";
import { redisScript } from "../../platform/redis-script.ts";
import {
  CredCertificateQuery,
  CredDelegateBeginBody,
  CredDelegateBody,
  CredInfoBody,
  CredRetrieveBody,
  CredSignedRequest,
  ERR,
  SCHEMA_VERSION,
  WmsError,
  isWmsError,
  type AuditRecord,
  type CredReply,
  type WireNames,
  type WmsConfig,
} from "../../schemas/index.ts";
import {
  AuditLog,
  ONE_TIME_KEY_SEAL_PURPOSE,
  OneTimeKeyStore,
  SERVICE_ROLES,
  SealVerifier,
  ServiceSealer,
  CredentialKeyring,
  openSealer,
  openSealVerifier,
  AUDIT_RECORD_SEAL_PURPOSE,
  refusalAuditBudget,
  type SealKeyring,
  createProxyRequest,
  decryptWithKey,
  issueProxy,
  readProxyRequest,
  readServiceCredentials,
  signData,
  verifyChain,
  verifyWithKey,
  type TrustStore,
  type VerifiedIdentity,
} from "../../security/index.ts";
import { JobStore, LEASED_STATES } from "../../jobs/index.ts";
import { auditSealText } from "../reports/index.ts";
import { CredentialRecords } from "./credential-records.ts";
import { satisfiesRetrievalPolicy } from "./retrieval-policy.ts";

/** A signed request older or newer than this is refused, so a captured one cannot be replayed later. */
const MAX_REQUEST_AGE_MS = 5 * 60_000;
/** A delegated proxy must have at least this much life left to be worth storing. */
const MIN_DELEGATED_LIFETIME_MS = 5 * 60_000;
/** How long the key pair of a begun delegation waits for its certificate. */
const DELEGATION_REQUEST_TTL_SEC = 300;
/**
 * Delegations one caller may begin in DELEGATION_REQUEST_TTL_SEC. Each makes an RSA key pair, a
 * tenth of a second or more of the cache's CPU for one small signed message, so a user's `wms`
 * (any certificate of the CA) sending begins in a loop starved the pilots' retrievals of the
 * cache; `wms proxy init` begins one.
 */
export const MAX_DELEGATIONS_BEGUN = 20;
// The count of a caller's begun delegations, checked and raised in one step (two cache instances
// must not both let the last one through); the window starts with the first and is not extended
// by refused ones. KEYS: 1 the caller's counter. ARGV: 1 the limit, 2 the window in seconds.
/** The counter of delegations `dn` began in the current window (BEGIN_DELEGATION's one key). */
export function delegationsBegunKey(names: WireNames, dn: string): string {
  return names.redisKey("credreq-begun", createHash("sha256").update(dn).digest("hex"));
}

const BEGIN_DELEGATION = redisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return -1 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return n
`);
/** A retrieved proxy outlives the job's walltime by this much: stage-out and the final reports. */
const WALLTIME_GRACE_SEC = 600;
/**
 * Retrievals (and renewals) in flight whose copies are answered with the first one's reply: a hash
 * and a promise each. Far above the starts of one cache's pilots at once; past it, a copy is
 * handled on its own, as it was before copies were shared.
 */
const MAX_SHARED_RETRIEVALS = 4096;

export interface CredentialCacheDeps {
  readonly nc: NatsConnection;
  readonly redis: RedisClient;
  readonly names: WireNames;
  readonly config: WmsConfig;
  readonly trust: TrustStore;
  /** The cache's own certificate and key; default `services/credentials.*` in config.pki.dir. */
  readonly service?: { readonly certPem: string; readonly keyPem: string };
  readonly logger?: Logger;
  readonly clock?: () => number;
  /**
   * Where audit records go besides the Redis audit stream: the CLI passes the RabbitMQ
   * ReportPublisher (agents/reports/), so releases and refusals reach the audit queue.
   */
  readonly reports?: { publish(report: AuditRecord): Promise<void> };
  /** Who holds which attempt of a job now; default the JobStore in the same Redis namespace. */
  readonly jobs?: JobAttempts;
  /** The sealing keys; default from config.credentials (encryptionKey, keyringFile). */
  readonly keyring?: CredentialKeyring;
  /** The keys one-time keys are sealed with; default: the key file config.pki names. */
  readonly oneTimeKeySealKeys?: SealKeyring;
  /** The audit-record seal keys (default: the key file of config.pki). */
  readonly auditSealKeys?: SealKeyring;
}

/** The one question the cache asks of the job's state owner. */
export interface JobAttempts {
  attemptOf(jobId: string): Promise<{ readonly state: string; readonly attempt: number; readonly pilotId?: string; readonly site: string; readonly walltimeSec?: number } | undefined>;
}

// The job's state owner's view, read through the JobStore until the jobs core offers a port of its own.
function jobStoreAttempts(store: JobStore): JobAttempts {
  return {
    async attemptOf(jobId) {
      const j = await store.getJob(jobId);
      return j === undefined ? undefined : { state: j.state, attempt: j.attempt, pilotId: j.pilotId, site: j.site, walltimeSec: j.spec.walltimeSec };
    },
  };
}

/** A proxy is released while the attempt is being started or run; renewed only while it runs. */
const RETRIEVE_STATES: readonly string[] = LEASED_STATES;
const RENEW_STATES: readonly string[] = LEASED_STATES.filter((s) => s !== "sent");

export interface CredentialCache {
  /**
   * Resolves once the server has the cache's subscriptions (a flush after them): a request sent
   * from another connection before then finds no responder ("no credential cache is running").
   * Await it before telling anyone the cache serves.
   */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

interface Authenticated {
  readonly identity: VerifiedIdentity;
  readonly bodyText: string;
  readonly leafCert: string;
  readonly chain: string[];
}

export function startCredentialCache(d: CredentialCacheDeps): CredentialCache {
  // A PKI folder made before audit records were sealed has no key for them: the cache still runs,
  // and its records are refused by the audit agent (each refusal counted and audited) until
  // 'wms pki rotate-seal-key --purpose audit-record' makes one.
  const openAuditSealer = (): ServiceSealer | undefined => {
    try {
      return openSealer(d.config.pki, AUDIT_RECORD_SEAL_PURPOSE);
    } catch (e) {
      d.logger?.warn({ err: (e as Error).message }, "no audit-record seal key: the credential cache's audit records go unsealed and will be refused");
      return undefined;
    }
  };
  // Refuse to start without the at-rest key: storing proxies unencrypted is not an option.
  const keyring = d.keyring ?? new CredentialKeyring(d.config.credentials);
  const clock = d.clock ?? Date.now;
  const records = new CredentialRecords(d.redis, d.names, keyring);
  // Keys count only if sealed with the one-time-key seal key, which only the matchmaker (it alone
  // mints keys) and this cache hold.
  const keys = new OneTimeKeyStore(d.redis, d.names, {
    maxRenewals: d.config.credentials.maxRenewals,
    clock,
    verifier: d.oneTimeKeySealKeys ? new SealVerifier(d.oneTimeKeySealKeys, ONE_TIME_KEY_SEAL_PURPOSE) : openSealVerifier(d.config.pki, ONE_TIME_KEY_SEAL_PURPOSE),
  });
  const jobs: JobAttempts = d.jobs ?? jobStoreAttempts(new JobStore(d.redis, d.names));
  const audit = new AuditLog(d.redis, d.names);
  const log = d.logger;
  const report = async (event: AuditRecord["event"], dn: string, extra: { pilotId?: string; jobId?: string; detail?: string }): Promise<void> => {
    if (d.reports === undefined) return;
    try {
      // Sealed with the audit-record seal key (only this cache and the agents hold it): the audit
      // agent stores no unsealed record, and a pilot cannot pass one off as the cache's.
      const record: AuditRecord = { schemaVersion: SCHEMA_VERSION, kind: "audit", reportId: randomUUID(), event, dn, ...extra, at: clock() };
      await d.reports.publish(auditSealer ? { ...record, serviceSeal: auditSealer.seal(auditSealText(record)) } : record);
    } catch (e) {
      log?.error({ err: e, event }, "audit record could not be published or spooled");
    }
  };
  // A refusal costs its sender one signed NATS message (a pilot's payload holds a certificate the
  // CA signed), so a flood of them would push every older event out of the capped audit stream and
  // fill the audit queue. Its entry in the stream and its record to the audit agent are written at
  // most REFUSAL_AUDITS_PER_MINUTE a minute, the next saying how many were left out, as the
  // matchmaker does for token and heartbeat refusals; every refusal is still logged at debug level
  // and answered.
  const refusalAudits = refusalAuditBudget();
  const refused = async (
    entry: { readonly event: string; readonly fields: Readonly<Record<string, string | undefined>> } | undefined,
    record: { readonly event: AuditRecord["event"]; readonly dn: string; readonly pilotId?: string; readonly jobId?: string; readonly detail: string },
    grant = refusalAudits.take(),
  ): Promise<void> => {
    if (!grant.write) {
      log?.debug({ event: entry?.event ?? record.event, dn: record.dn, jobId: record.jobId }, "credential refusal past the audit budget: not audited");
      return;
    }
    const omitted = grant.omitted > 0 ? `; ${grant.omitted} refusals before this one were not audited` : "";
    if (entry !== undefined) {
      const fields = Object.fromEntries(Object.entries(entry.fields).filter((kv): kv is [string, string] => kv[1] !== undefined));
      await audit.write(entry.event, grant.omitted > 0 ? { ...fields, omittedBefore: String(grant.omitted) } : fields);
    }
    const { event, dn, detail, ...extra } = record;
    await report(event, dn, { ...extra, detail: `${detail}${omitted}` });
  };
  const service = d.service ?? readServiceCredentials(d.config.pki.dir, "credentials");
  const auditSealer = d.auditSealKeys ? new ServiceSealer(d.auditSealKeys, AUDIT_RECORD_SEAL_PURPOSE) : openAuditSealer();
  const servicePublic = createPublicKey(createPrivateKey(service.keyPem)).export({ type: "spki", format: "der" });
  if (!new X509Certificate(service.certPem).publicKey.export({ type: "spki", format: "der" }).equals(servicePublic)) {
    throw new WmsError(ERR.BAD_CONFIG, "the credential cache's certificate and key do not belong together");
  }

  const authenticate = (data: Uint8Array): Authenticated => {
    const req = CredSignedRequest.parseJson(data);
    const identity = verifyChain(req.certChain, d.trust, { at: clock() });
    if (!verifyWithKey(req.body, req.signature, identity.publicKey)) throw new WmsError(ERR.SEC_BAD_SIGNATURE, `the request does not match the signature of ${identity.subjectDn}`);
    return { identity, bodyText: req.body, leafCert: req.certChain[0] as string, chain: req.certChain };
  };
  const fresh = (issuedAt: number): void => {
    if (Math.abs(clock() - issuedAt) > MAX_REQUEST_AGE_MS) throw new WmsError(ERR.SEC_NOT_AUTHORIZED, "the request is too old or from the future (replay, or check the clocks)");
  };
  const dnMismatch = async (requested: string, actual: string, who: string, op: string): Promise<never> => {
    // MyProxy's check: the user name asked for and the credential's DN must agree.
    log?.warn({ requested, actual, caller: who, op }, "security violation: user name and DN do not match");
    await refused(
      { event: "credential-dn-mismatch", fields: { op, requestedUserDn: requested, credentialDn: actual, caller: who } },
      { event: "credential-refused", dn: requested, detail: `E${ERR.MYPROXY_DN_MISMATCH} ${op}: credential DN ${actual}, caller ${who}` },
    );
    throw new WmsError(ERR.MYPROXY_DN_MISMATCH, `asked for ${requested}, the credential is ${actual}`);
  };

  const pendingKey = (requestId: string): string => d.names.redisKey("credreq", requestId);
  // The pending key pair is bound to the caller who began the delegation: nobody else can finish it.
  const pendingAad = (requestId: string, callerDn: string): string => JSON.stringify(["credential-delegation/v1", requestId, callerDn]);
  const keyBits = d.config.credentials.proxyKeyBits;

  // myproxy-init's delegation (Novotny et al., s. 4; Basney's MyProxy protocol): the cache makes the
  // key pair and sends a certificate request; the client signs a proxy for it with the user's
  // credential and sends back only certificates. The user's key never leaves the client, the
  // proxy's key never leaves the cache (sealed at rest, sealed while it waits here).
  async function delegate(data: Uint8Array): Promise<CredReply> {
    const a = authenticate(data);
    let op: unknown;
    try {
      op = (JSON.parse(a.bodyText) as { op?: unknown }).op;
    } catch {
      throw new WmsError(ERR.BAD_INPUT, "the request body is not JSON");
    }
    return op === "delegate-begin" ? delegateBegin(a) : delegateFinish(a);
  }

  async function delegateBegin(a: Authenticated): Promise<CredReply> {
    const body = CredDelegateBeginBody.parseJson(a.bodyText);
    fresh(body.issuedAt);
    if (body.userDn !== undefined && body.userDn !== a.identity.dn) await dnMismatch(body.userDn, a.identity.dn, a.identity.subjectDn, "delegate");
    if (Number(await BEGIN_DELEGATION.run(d.redis, [delegationsBegunKey(d.names, a.identity.dn)], [String(MAX_DELEGATIONS_BEGUN), String(DELEGATION_REQUEST_TTL_SEC)])) < 0) {
      throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, `${a.identity.dn} began ${MAX_DELEGATIONS_BEGUN} delegations in the last ${DELEGATION_REQUEST_TTL_SEC / 60} minutes, the most one user may; wait, then run 'wms proxy init' once`);
    }
    const req = await createProxyRequest({ keyBits });
    const requestId = randomUUID();
    await d.redis.set(pendingKey(requestId), keyring.seal(req.keyPem, pendingAad(requestId, a.identity.dn)), "EX", DELEGATION_REQUEST_TTL_SEC);
    return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "delegate-begin", requestId, csr: req.csrPem, signature: signData(`${requestId}\n${req.csrPem}`, service.keyPem) };
  }

  async function delegateFinish(a: Authenticated): Promise<CredReply> {
    const body = CredDelegateBody.parseJson(a.bodyText);
    fresh(body.issuedAt);
    if (body.userDn !== undefined && body.userDn !== a.identity.dn) await dnMismatch(body.userDn, a.identity.dn, a.identity.subjectDn, "delegate");
    // GETDEL: a request's key is used once, whichever cache instance finishes it.
    const sealed = await d.redis.getdel(pendingKey(body.requestId));
    if (sealed === null) throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, `no delegation request ${body.requestId} is waiting (finished, or older than ${DELEGATION_REQUEST_TTL_SEC} s); run 'wms proxy init' again`);
    let keyPem: string;
    try {
      keyPem = keyring.open(sealed, pendingAad(body.requestId, a.identity.dn)).plaintext;
    } catch {
      throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, `delegation request ${body.requestId} was begun by someone else than ${a.identity.dn}`);
    }
    const proxy = verifyChain(body.proxyChain, d.trust, { at: clock() });
    if (proxy.dn !== a.identity.dn) await dnMismatch(a.identity.dn, proxy.dn, a.identity.subjectDn, "delegate");
    if (!proxy.isProxy) throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, "the delegated chain must start with a proxy certificate");
    const keptPublic = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
    if (!proxy.publicKey.export({ type: "spki", format: "der" }).equals(keptPublic)) {
      throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, "the delegated proxy is not for the key pair the cache made for this request");
    }
    if (proxy.notAfter - clock() < MIN_DELEGATED_LIFETIME_MS) throw new WmsError(ERR.MYPROXY_DELEGATION_FAILED, "the proxy has less than 5 minutes left; make a longer one");
    const now = clock();
    await records.put({ userDn: proxy.dn, owner: proxy.dn, retrievers: body.retrievers, notAfter: proxy.notAfter, delegatedAt: now }, { chain: body.proxyChain, keyPem });
    log?.info({ userDn: proxy.dn, retrievers: body.retrievers, notAfter: proxy.notAfter }, "proxy delegated");
    return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "delegate", userDn: proxy.dn, notAfter: proxy.notAfter };
  }

  async function info(data: Uint8Array): Promise<CredReply> {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(data));
    } catch {
      throw new WmsError(ERR.BAD_INPUT, "the request is not JSON");
    }
    if (typeof raw === "object" && raw !== null && (raw as { op?: unknown }).op === "certificate") {
      CredCertificateQuery.parse(raw);
      return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "certificate", cacheCert: service.certPem };
    }
    const a = authenticate(data);
    const body = CredInfoBody.parseJson(a.bodyText);
    fresh(body.issuedAt);
    const username = body.userDn ?? a.identity.dn;
    // The intake may ask about any task owner (time left, policy; never the credential), so it can
    // refuse a task whose jobs could not get one instead of letting every attempt fail.
    const intake = a.identity.kind === "service" && a.identity.roles.includes(SERVICE_ROLES.intake);
    if (username !== a.identity.dn && !intake) throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `only ${username} or the intake may ask about its credential`);
    const rec = (await records.get(username))?.record;
    if (rec === undefined || rec.notAfter <= clock()) return { schemaVersion: SCHEMA_VERSION, status: "ok", op: "info", found: false, username };
    return {
      schemaVersion: SCHEMA_VERSION,
      status: "ok",
      op: "info",
      found: true,
      username,
      owner: rec.owner,
      retrievers: rec.retrievers,
      notAfter: rec.notAfter,
      timeLeftSec: Math.max(0, Math.floor((rec.notAfter - clock()) / 1000)),
    };
  }

  async function retrieve(data: Uint8Array, op: "retrieve" | "renew"): Promise<CredReply> {
    const a = authenticate(data);
    const body = CredRetrieveBody.parseJson(a.bodyText);
    if (body.op !== op) throw new WmsError(ERR.BAD_INPUT, `a '${body.op}' request on the ${op} subject`);
    fresh(body.issuedAt);
    if (body.userDn === undefined) throw new WmsError(ERR.MYPROXY_NO_USER_DN, "say whose credential to retrieve (userDn)");
    const userDn = body.userDn;
    // The policy comes only from the authenticated record: a rewritten `retrievers` does not open.
    let stored: Awaited<ReturnType<CredentialRecords["get"]>>;
    try {
      stored = await records.get(userDn);
    } catch (e) {
      if (isWmsError(e)) {
        log?.warn({ userDn, caller: a.identity.dn }, "credential record does not match its seal; nothing released");
        await refused(
          { event: "credential-record-tampered", fields: { userDn, caller: a.identity.dn, jobId: body.jobId, pilotId: body.pilotId } },
          { event: "credential-refused", dn: userDn, pilotId: body.pilotId, jobId: body.jobId, detail: `E${e.code} the stored record does not match its seal` },
        );
      }
      throw e;
    }
    const info = stored?.record;
    // Not the retryable 2301: another attempt finds no credential either, so the job fails at once with the real cause.
    if (stored === undefined || info === undefined || info.notAfter <= clock()) throw new WmsError(ERR.CREDENTIAL_NOT_STORED, `none for ${userDn}`);
    // Policy before the key: an unauthorized caller must not be able to burn someone's key.
    if (!satisfiesRetrievalPolicy(a.identity, info.retrievers)) {
      await refused(
        { event: "credential-retriever-refused", fields: { userDn, caller: a.identity.dn, jobId: body.jobId, pilotId: body.pilotId } },
        { event: "credential-refused", dn: userDn, pilotId: body.pilotId, jobId: body.jobId, detail: `E${ERR.SEC_NOT_AUTHORIZED} ${a.identity.dn} is not in the retrieval policy` },
      );
      throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `${a.identity.dn} is not in the retrieval policy of ${userDn}`);
    }
    // The caller's request is checked before the key is spent: a bad one must not burn it.
    const requestedKey = readProxyRequest(body.csr);
    const oneTimeKey = decryptWithKey(service.keyPem, body.oneTimeKey);
    // The key is bound to one attempt; the attempt must still be this pilot's and live right now.
    const job = await jobs.attemptOf(body.jobId);
    const states = op === "retrieve" ? RETRIEVE_STATES : RENEW_STATES;
    if (job === undefined || job.attempt !== body.attempt || (job.pilotId !== undefined && job.pilotId !== body.pilotId) || !states.includes(job.state)) {
      const why = job === undefined ? "the job is unknown" : `the job is at attempt ${job.attempt}, ${job.state}${job.pilotId ? `, held by ${job.pilotId}` : ""}`;
      await refused(
        { event: "credential-stale-attempt", fields: { userDn, caller: a.identity.dn, jobId: body.jobId, pilotId: body.pilotId, attempt: String(body.attempt), op } },
        { event: "credential-refused", dn: userDn, pilotId: body.pilotId, jobId: body.jobId, detail: `E${ERR.SEC_KEY_INVALID} ${op} for attempt ${body.attempt}: ${why}` },
      );
      throw new WmsError(ERR.SEC_KEY_INVALID, `${op} for attempt ${body.attempt} of job ${body.jobId} refused: ${why}`);
    }
    // The key lives in the shard of the site the attempt was matched at.
    const binding = { userDn, jobId: body.jobId, pilotId: body.pilotId, attempt: body.attempt, site: job.site };
    let renewalsLeft: number;
    // The key's own refusals (reused, bound elsewhere, unsealed) are audited by the store's script,
    // which alone knows there is one: it is told whether the budget has room, spent once it refused.
    const grant = refusalAudits.peek();
    try {
      // Keyed by the public key the proxy is for: the same retrieval asked again after a lost answer
      // gets the proxy again (the pilot asks again through an outage), a second key pair does not.
      const requester = createHash("sha256").update(requestedKey).digest("hex");
      renewalsLeft = op === "retrieve" ? (await keys.consume(oneTimeKey, binding, requester, grant)).renewalsLeft : (await keys.consumeRenewal(oneTimeKey, binding, grant)).renewalsLeft;
    } catch (e) {
      if (isWmsError(e)) {
        await refused(undefined, { event: e.code === ERR.SEC_KEY_REUSED ? "key-reuse" : "credential-refused", dn: userDn, pilotId: body.pilotId, jobId: body.jobId, detail: `${e.toLine()} (caller ${a.identity.dn})` }, refusalAudits.take());
      }
      throw e;
    }
    const owner = verifyChain(stored.proxy.chain, d.trust, { at: clock() });
    if (owner.dn !== userDn) await dnMismatch(userDn, owner.dn, a.identity.dn, op);
    // myproxy-logon: a fresh proxy for the caller's key, signed with the stored proxy's key, which
    // never leaves the cache. Its life is capped by policy and by the job's walltime (the stored
    // proxy caps it too: a proxy cannot outlive its issuer).
    const lifetimeSec = Math.min(d.config.credentials.retrievedLifetimeSec, (job.walltimeSec ?? Number.POSITIVE_INFINITY) + WALLTIME_GRACE_SEC);
    const [storedLeaf, ...storedRest] = stored.proxy.chain;
    const proxyChain = issueProxy({ certPem: storedLeaf as string, keyPem: stored.proxy.keyPem, chain: storedRest, lifetimeSec }, requestedKey);
    const issued = verifyChain(proxyChain, d.trust, { at: clock() });
    log?.info({ userDn, caller: a.identity.dn, jobId: body.jobId, pilotId: body.pilotId, op, notAfter: issued.notAfter }, "proxy delegated to the retriever");
    await report("credential-retrieval", userDn, { pilotId: body.pilotId, jobId: body.jobId, detail: `${op} by ${a.identity.dn}` });
    return { schemaVersion: SCHEMA_VERSION, status: "ok", op, userDn, notAfter: issued.notAfter, renewalsLeft, proxyChain };
  }

  // The handlers read the bytes themselves: a signed request is authenticated before its body is parsed.
  const serve = (subject: string, handler: (data: Uint8Array) => Promise<CredReply>, shareRepeats?: { max: number }): RequestReplyService =>
    serveRequests(d.nc, subject, { queue: d.names.queueGroups.credentials, decode: (data) => data, handler, log, what: "credential request", shareRepeats });

  // A pilot whose retrieval is not answered within its timeout sends the same signed request again
  // (CredentialClient), so on a slow cache every copy would redo the whole retrieval. A copy of one
  // still in flight gets its reply instead. Only a byte-for-byte copy shares: the bytes hold the
  // caller's chain, its signature and the whole body (user, job, attempt, pilot, the encrypted
  // one-time key, the key pair's request, the time), everything the decision depends on besides
  // the stores it reads. Whoever holds a copy could have had that reply anyway by sending it
  // after the first (a spent key is granted again to the same binding and key pair), and it is a
  // proxy for a key pair only the asking pilot holds.
  const repeats = { max: MAX_SHARED_RETRIEVALS };
  const subs = [
    serve(d.names.subjects.credDelegate, delegate),
    serve(d.names.subjects.credInfo, info),
    serve(d.names.subjects.credRetrieve, (data) => retrieve(data, "retrieve"), repeats),
    serve(d.names.subjects.credRenew, (data) => retrieve(data, "renew"), repeats),
  ];
  log?.info({ namespace: d.names.namespace }, "credential cache listening");
  const ready = d.nc.flush();
  // Awaited by whoever needs it; a connection closed meanwhile is stop()'s business, not an unhandled rejection.
  ready.catch(() => undefined);
  return {
    ready,
    async stop() {
      await Promise.all(subs.map((s) => s.stop()));
    },
  };
}
