// The deployment CA's revocation list as a verifier sees it: read from the PKI folder's
// ca.crl.pem, its signature checked against the trusted CA, and read again when the file changes,
// so `wms pki revoke` bites in running services without a restart. A verifier looks at the file's
// mtime and size at most once per `checkMs` (one stat, not a read), because chain verification
// runs per request. A CRL that vanishes or stops verifying is ignored and the last good one kept:
// deleting or corrupting the file must not un-revoke anyone.
import { readFileSync, statSync } from "node:fs";
import { ERR, WmsError } from "../schemas/index.ts";
import { readCrl, normalizeSerial, type RevocationList, type RevokedEntry } from "./certificate-revocation.ts";

interface CaKey {
  readonly dn: string;
  readonly publicKey: import("node:crypto").KeyObject;
}

/** How often a verifier looks at the CRL file by default. */
export const CRL_CHECK_MS = 1000;

export class CrlWatch<Ca extends CaKey> {
  private lastCheck = Number.NEGATIVE_INFINITY;
  private stamp = "";
  private issuer: Ca | undefined;
  private revoked = new Map<string, RevokedEntry>();
  private list: RevocationList | undefined;
  /** Bumped whenever the revoked set changes; verifiers drop what they cached before. */
  generation = 0;
  /** Why the last reload was refused (the previous list stays in force), for `wms pki crl`-style reporting. */
  lastError: string | undefined;

  constructor(
    readonly file: string | undefined,
    private readonly cas: readonly Ca[],
    private readonly checkMs = CRL_CHECK_MS,
  ) {
    // At start a bad CRL is a configuration error the operator must see, not something to skip.
    if (file !== undefined) this.refresh(true);
  }

  /** The current list, if any CRL was loaded. */
  current(): RevocationList | undefined {
    this.refresh();
    return this.list;
  }

  /** The revocation entry for `serialHex` issued by `ca`, after looking at the file if it is time. */
  revokedBy(ca: Ca, serialHex: string): RevokedEntry | undefined {
    this.refresh();
    if (this.issuer !== ca) return undefined;
    return this.revoked.get(normalizeSerial(serialHex));
  }

  /** Looks at the file when `checkMs` has passed (or `strict`: at start); reloads it when it changed. */
  refresh(strict = false): void {
    if (this.file === undefined) return;
    const now = Date.now();
    if (!strict && now - this.lastCheck < this.checkMs) return;
    this.lastCheck = now;
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return; // no CRL (yet): nothing revoked beyond what was loaded before
    }
    if (stamp === this.stamp) return;
    try {
      this.load(readFileSync(this.file, "utf8"));
      this.stamp = stamp;
      this.lastError = undefined;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (strict) throw new WmsError(ERR.BAD_CONFIG, `CRL ${this.file}: ${msg}`);
      this.lastError = msg;
      // Not remembered as seen: a writer that is half-way through gets another look next time.
    }
  }

  private load(pem: string): void {
    let lastError: unknown;
    for (const ca of this.cas) {
      let list: RevocationList;
      try {
        list = readCrl(pem, ca.publicKey);
      } catch (e) {
        lastError = e;
        continue;
      }
      if (list.issuerDn !== ca.dn) continue;
      // An older list (a restored backup) never replaces a newer one.
      if (this.list !== undefined && this.issuer === ca && list.crlNumber < this.list.crlNumber) {
        throw new WmsError(ERR.SEC_BAD_SIGNATURE, `CRL number ${list.crlNumber} is older than the loaded ${this.list.crlNumber}`);
      }
      this.issuer = ca;
      this.list = list;
      this.revoked = new Map(list.entries.map((e) => [e.serialHex, e]));
      this.generation++;
      return;
    }
    throw lastError instanceof Error ? lastError : new WmsError(ERR.SEC_BAD_SIGNATURE, "the CRL is not issued by a CA in the trust bundle");
  }
}
