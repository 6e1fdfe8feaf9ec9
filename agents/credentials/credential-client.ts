// The caller's side of the credential cache: `wms proxy init/info` (as the user) and the pilot (as
// its pilot certificate). Requests are signed with the caller's key. No private key is ever sent:
// delegation signs a proxy for the cache's certificate request (myproxy-init), retrieval sends a
// request for a key pair made here and gets a proxy for it (myproxy-logon). The one-time key is
// encrypted to the cache's certificate, which is checked against the CA and its `credentials`
// role first.
import type { NatsConnection } from "nats";
import {
  CredReply,
  ERR,
  SCHEMA_VERSION,
  WmsError,
  type CredDelegateBeginBody,
  type CredDelegateBody,
  type CredInfoBody,
  type CredRetrieveBody,
  type CredSignedRequest,
  type WireNames,
} from "../../schemas/index.ts";
import { createProxyRequest, encryptToCertificate, issueProxy, readProxyRequest, signData, verifyChain, verifyData, type TrustStore } from "../../security/index.ts";

export interface CallerCredential {
  /** Leaf first (a proxy or an end-entity certificate), up to but not including the CA. */
  readonly certChain: readonly string[];
  readonly keyPem: string;
}

/** A pilot's retrieval or renewal of its job's user proxy (the pilot's CredentialSource port takes this shape). */
export interface RetrieveRequest {
  /** The one-time key from the job's envelope. */
  readonly oneTimeKey: string;
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  /** The attempt the one-time key belongs to (the envelope's job.attempt). */
  readonly attempt: number;
  /** Aborted when the pilot is preempted: a retrieval asking again through an outage stops. */
  readonly signal?: AbortSignal;
  /** The clock the request's `issuedAt` is stamped on (a pilot's is the matchmaker's as it saw it); default Date.now. */
  readonly now?: () => number;
}

export interface RetrievedProxy {
  /** Proxy certificate chain and key, PEM, as the payload's X509_USER_PROXY file holds it. */
  readonly proxyPem: string;
  /** Epoch ms the proxy stops being valid. */
  readonly notAfter: number;
  readonly renewalsLeft: number;
}

export interface CredentialInfo {
  readonly found: boolean;
  readonly username: string;
  readonly owner?: string;
  readonly retrievers?: readonly string[];
  readonly notAfter?: number;
  readonly timeLeftSec?: number;
}

const enc = new TextEncoder();
export const CREDENTIALS_ROLE = "credentials";

/**
 * How long a retrieval keeps asking while the cache, or the Redis or NATS behind it, does not
 * answer (E1003, E1006): a pilot that gave its job back at the first refusal would spend a whole
 * attempt on a blip of a second. Asked again with the same request (the same key pair), a key the
 * lost answer had spent is granted again (one-time-key-store.ts), so asking again is safe.
 */
export const RETRIEVE_RETRY_MS = 30_000;
const RETRY_PAUSE_MS = [250, 500, 1000, 2000] as const;
const TRANSIENT: ReadonlySet<number> = new Set([ERR.SERVICE_UNAVAILABLE, ERR.TIMEOUT]);

type OkReply<Op extends string> = Extract<CredReply, { status: "ok"; op: Op }>;

export class CredentialClient {
  private cacheCert: string | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: WireNames,
    private readonly opts: {
      trust: TrustStore;
      caller?: CallerCredential;
      timeoutMs?: number;
      /** RSA size of the key pairs made for retrieved proxies (config credentials.proxyKeyBits); default 2048. */
      proxyKeyBits?: number;
      /** How long `retrieve` asks again through an outage; default RETRIEVE_RETRY_MS. */
      retrieveRetryMs?: number;
    },
  ) {}

  private async request(subject: string, payload: unknown): Promise<CredReply> {
    let msg;
    try {
      msg = await this.nc.request(subject, enc.encode(JSON.stringify(payload)), { timeout: this.opts.timeoutMs ?? 10_000 });
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      if (/no responders|503/i.test(m)) throw new WmsError(ERR.SERVICE_UNAVAILABLE, "no credential cache is running; start the deployment with 'wms up' (or the cache alone with 'wms credentials serve')");
      if (/timeout/i.test(m)) throw new WmsError(ERR.TIMEOUT, "the credential cache did not answer");
      throw new WmsError(ERR.SERVICE_UNAVAILABLE, `credential cache: ${m}`);
    }
    const reply = CredReply.parseJson(msg.data);
    if (reply.status === "error") {
      throw WmsError.fromReply(reply);
    }
    return reply;
  }

  private expect<Op extends string>(reply: CredReply, op: Op): OkReply<Op> {
    if (reply.status !== "ok" || reply.op !== op) throw new WmsError(ERR.BAD_INPUT, `the credential cache answered '${reply.status === "ok" ? reply.op : reply.status}' to '${op}'`);
    return reply as OkReply<Op>;
  }

  private signed(caller: CallerCredential, body: CredDelegateBeginBody | CredDelegateBody | CredInfoBody | CredRetrieveBody): CredSignedRequest {
    const text = JSON.stringify(body);
    return { schemaVersion: SCHEMA_VERSION, body: text, signature: signData(text, caller.keyPem), certChain: [...caller.certChain] };
  }

  private requireCaller(): CallerCredential {
    if (this.opts.caller === undefined) throw new WmsError(ERR.SEC_NOT_AUTHORIZED, "the credential client has no certificate to authenticate with");
    return this.opts.caller;
  }

  /** The cache's certificate, verified against the CA and the `credentials` role. */
  async cacheCertificate(): Promise<string> {
    if (this.cacheCert !== undefined) return this.cacheCert;
    const r = this.expect(await this.request(this.names.subjects.credInfo, { schemaVersion: SCHEMA_VERSION, op: "certificate" }), "certificate");
    const id = verifyChain([r.cacheCert], this.opts.trust);
    if (!id.roles.includes(CREDENTIALS_ROLE)) throw new WmsError(ERR.SEC_NOT_AUTHORIZED, `${id.dn} answered as the credential cache but lacks the '${CREDENTIALS_ROLE}' role`);
    this.cacheCert = r.cacheCert;
    return r.cacheCert;
  }

  /**
   * myproxy-init: delegates `credential` (the user's certificate and key, or a proxy of them) to
   * the cache with a retrieval policy. The cache makes the key pair and asks for a certificate; this
   * signs a proxy of `lifetimeSec` for it and sends only the chain. `credential`'s key signs the
   * requests and the proxy, and stays here.
   */
  async delegate(credential: CallerCredential, o: { retrievers: readonly string[]; lifetimeSec: number; userDn?: string }): Promise<{ userDn: string; notAfter: number }> {
    const cert = await this.cacheCertificate();
    const userDn = o.userDn ?? verifyChain(credential.certChain, this.opts.trust).dn;
    const begin: CredDelegateBeginBody = { schemaVersion: SCHEMA_VERSION, op: "delegate-begin", userDn, issuedAt: Date.now() };
    const req = this.expect(await this.request(this.names.subjects.credDelegate, this.signed(credential, begin)), "delegate-begin");
    // Only the cache may receive the proxy: the request must carry its service key's signature.
    if (!verifyData(`${req.requestId}\n${req.csr}`, req.signature, cert)) {
      throw new WmsError(ERR.SEC_BAD_SIGNATURE, "the certificate request did not come from the credential cache (its signature does not verify)");
    }
    const [leaf, ...rest] = credential.certChain;
    const proxyChain = issueProxy({ certPem: leaf as string, keyPem: credential.keyPem, chain: rest, lifetimeSec: o.lifetimeSec }, readProxyRequest(req.csr));
    const body: CredDelegateBody = { schemaVersion: SCHEMA_VERSION, op: "delegate", requestId: req.requestId, userDn, retrievers: [...o.retrievers], proxyChain, issuedAt: Date.now() };
    const r = this.expect(await this.request(this.names.subjects.credDelegate, this.signed(credential, body)), "delegate");
    return { userDn: r.userDn, notAfter: r.notAfter };
  }

  /** myproxy-info: the caller's own stored credential (or `userDn`, which must be the caller's). */
  async info(caller: CallerCredential, userDn?: string): Promise<CredentialInfo> {
    const body: CredInfoBody = { schemaVersion: SCHEMA_VERSION, op: "info", ...(userDn !== undefined ? { userDn } : {}), issuedAt: Date.now() };
    const r = this.expect(await this.request(this.names.subjects.credInfo, this.signed(caller, body)), "info");
    return { found: r.found, username: r.username, owner: r.owner, retrievers: r.retrievers, notAfter: r.notAfter, timeLeftSec: r.timeLeftSec };
  }

  private async fetchProxy(op: "retrieve" | "renew", req: RetrieveRequest): Promise<RetrievedProxy> {
    const caller = this.requireCaller();
    // A key pair per retrieval: a payload that reads its proxy file learns nothing about the next job's.
    const own = await createProxyRequest({ keyBits: this.opts.proxyKeyBits });
    const subject = op === "retrieve" ? this.names.subjects.credRetrieve : this.names.subjects.credRenew;
    let signed: CredSignedRequest | undefined;
    const ask = async (): Promise<CredReply> => {
      if (signed === undefined) {
        const cert = await this.cacheCertificate();
        const body: CredRetrieveBody = {
          schemaVersion: SCHEMA_VERSION,
          op,
          userDn: req.userDn,
          jobId: req.jobId,
          pilotId: req.pilotId,
          attempt: req.attempt,
          oneTimeKey: encryptToCertificate(cert, req.oneTimeKey),
          csr: own.csrPem,
          issuedAt: req.now?.() ?? Date.now(),
        };
        signed = this.signed(caller, body);
      }
      return this.request(subject, signed);
    };
    // A renewal is not asked again: each one spends one of the job's renewals, and a failed one
    // leaves the payload with the proxy it has.
    const r = this.expect(op === "retrieve" ? await this.untilAnswered(ask, this.opts.retrieveRetryMs ?? RETRIEVE_RETRY_MS, req.signal) : await ask(), op);
    // X509_USER_PROXY layout: proxy certificate, its key, then the rest of the chain.
    const [leaf, ...rest] = r.proxyChain;
    const proxyPem = [leaf, own.keyPem, ...rest].map((p) => (p ?? "").trim()).join("\n") + "\n";
    return { proxyPem, notAfter: r.notAfter, renewalsLeft: r.renewalsLeft };
  }

  /** `ask` again, after a pause, while it fails with an outage (E1003, E1006), for up to `budgetMs`. */
  private async untilAnswered(ask: () => Promise<CredReply>, budgetMs: number, signal?: AbortSignal): Promise<CredReply> {
    const deadline = Date.now() + budgetMs;
    for (let i = 0; ; i++) {
      try {
        return await ask();
      } catch (e) {
        const pause = RETRY_PAUSE_MS[Math.min(i, RETRY_PAUSE_MS.length - 1)];
        if (!(e instanceof WmsError) || !TRANSIENT.has(e.code) || signal?.aborted || Date.now() + pause >= deadline) throw e;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /** The user's proxy for a job, with the one-time key minted at match time (works once). */
  retrieve(req: RetrieveRequest): Promise<RetrievedProxy> {
    return this.fetchProxy("retrieve", req);
  }

  /** A fresh copy during a long payload, within the job's renewal allowance. */
  renew(req: RetrieveRequest): Promise<RetrievedProxy> {
    return this.fetchProxy("renew", req);
  }
}
