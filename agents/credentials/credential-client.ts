// The caller's side of the credential cache: `wms proxy init/info` (as the user's proxy) and the
// pilot (as its pilot certificate). Requests are signed with the caller's key; secrets are
// encrypted to the cache's certificate, which is checked against the CA and its `credentials`
// role before anything is encrypted to it.
import type { NatsConnection } from "nats";
import {
  CredReply,
  ERR,
  SCHEMA_VERSION,
  WmsError,
  type CredDelegateBody,
  type CredInfoBody,
  type CredRetrieveBody,
  type CredSignedRequest,
  type WireNames,
} from "../../schemas/index.ts";
import { decryptWithKey, encryptToCertificate, signData, verifyChain, type ProxyCredential, type TrustStore } from "../../security/index.ts";

export interface CallerCredential {
  /** Leaf first (a proxy or an end-entity certificate), up to but not including the CA. */
  readonly certChain: readonly string[];
  readonly keyPem: string;
}

/** The same shapes as agents/pilot/pilot-ports.ts (CredentialRequest, RetrievedProxy). */
export interface RetrieveRequest {
  readonly oneTimeKey: string;
  readonly userDn: string;
  readonly jobId: string;
  readonly pilotId: string;
  readonly attempt: number;
}

export interface RetrievedProxy {
  readonly proxyPem: string;
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

type OkReply<Op extends string> = Extract<CredReply, { status: "ok"; op: Op }>;

export class CredentialClient {
  private cacheCert: string | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: WireNames,
    private readonly opts: { trust: TrustStore; caller?: CallerCredential; timeoutMs?: number },
  ) {}

  private async request(subject: string, payload: unknown): Promise<CredReply> {
    let msg;
    try {
      msg = await this.nc.request(subject, enc.encode(JSON.stringify(payload)), { timeout: this.opts.timeoutMs ?? 10_000 });
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      if (/no responders|503/i.test(m)) throw new WmsError(ERR.SERVICE_UNAVAILABLE, "no credential cache is running; start one with 'wms credentials serve'");
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

  private signed(caller: CallerCredential, body: CredDelegateBody | CredInfoBody | CredRetrieveBody): CredSignedRequest {
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

  /** Stores `proxy` in the cache with its retrieval policy; the proxy itself authenticates the request. */
  async delegate(proxy: ProxyCredential, o: { retrievers: readonly string[]; userDn?: string }): Promise<{ userDn: string; notAfter: number }> {
    const cert = await this.cacheCertificate();
    const body: CredDelegateBody = {
      schemaVersion: SCHEMA_VERSION,
      op: "delegate",
      userDn: o.userDn ?? verifyChain(proxy.chain, this.opts.trust).dn,
      retrievers: [...o.retrievers],
      proxyKey: encryptToCertificate(cert, proxy.keyPem),
      issuedAt: Date.now(),
    };
    const r = this.expect(await this.request(this.names.subjects.credDelegate, this.signed({ certChain: proxy.chain, keyPem: proxy.keyPem }, body)), "delegate");
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
    const cert = await this.cacheCertificate();
    const body: CredRetrieveBody = {
      schemaVersion: SCHEMA_VERSION,
      op,
      userDn: req.userDn,
      jobId: req.jobId,
      pilotId: req.pilotId,
      attempt: req.attempt,
      oneTimeKey: encryptToCertificate(cert, req.oneTimeKey),
      issuedAt: Date.now(),
    };
    const subject = op === "retrieve" ? this.names.subjects.credRetrieve : this.names.subjects.credRenew;
    const r = this.expect(await this.request(subject, this.signed(caller, body)), op);
    return { proxyPem: decryptWithKey(caller.keyPem, r.proxy), notAfter: r.notAfter, renewalsLeft: r.renewalsLeft };
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
