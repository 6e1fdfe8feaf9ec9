// A pilot that asks for more than one job already holds the matchmaker's signer certificate and
// delegation from its first envelope: ~2.9 KB of every ~4.5 KB reply, and on the loopback-heavy
// bench the socket writes of those bytes were a tenth of the matchmaker's CPU. The pilot advertises
// the id of the pair it verified (`knownSigner`); while the pair is current, the envelope names it
// (`signerRef`) instead of carrying it. The cached pair is verified again on every use, exactly as
// if it had come in the envelope, so the cache saves bytes, never a check.
import { hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { EnvelopeDelegation, MatchEnvelope } from "../schemas/index.ts";

export interface SignerPair {
  readonly signerCert: string;
  readonly delegation?: EnvelopeDelegation;
}

/** The id of a signer certificate and delegation: SHA-256 over both, hex. */
export function signerRef(pair: SignerPair): string {
  const d = pair.delegation;
  return hash("sha256", `${pair.signerCert}\n${d ? `${d.body}\n${d.signature}` : ""}`, "hex");
}

/** The pair an envelope carries; undefined when it names one instead. */
export function carriedSigner(env: MatchEnvelope): SignerPair | undefined {
  return env.signerCert === undefined ? undefined : { signerCert: env.signerCert, delegation: env.delegation };
}

/** The envelope as sent to a pilot holding the pair `ref` names: no certificate, no delegation. */
export function namingSigner(env: MatchEnvelope, ref: string): MatchEnvelope {
  // Two literals rather than a conditional spread: this is once per match on the matchmaker.
  return env.batch ? { schemaVersion: env.schemaVersion, body: env.body, signature: env.signature, signerRef: ref, batch: env.batch } : { schemaVersion: env.schemaVersion, body: env.body, signature: env.signature, signerRef: ref };
}

/** Signer pairs a pilot has seen verify, by id; `current` is the one to advertise. */
export class SignerCache {
  private readonly pairs: LRUCache<string, SignerPair>;
  private latest: string | undefined;

  constructor(max = 4) {
    this.pairs = new LRUCache({ max });
  }

  get current(): string | undefined {
    return this.latest;
  }

  get(ref: string): SignerPair | undefined {
    return this.pairs.get(ref);
  }

  /** Call only once an envelope carrying the pair verified. */
  remember(pair: SignerPair): string {
    const ref = signerRef(pair);
    this.pairs.set(ref, { signerCert: pair.signerCert, ...(pair.delegation && { delegation: pair.delegation }) });
    this.latest = ref;
    return ref;
  }
}
