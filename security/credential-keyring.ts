// The credential-sealing keys: every key has an id (the first 12 hex digits of its SHA-256), one
// is current and seals new records, the others still open the records sealed under them, until a
// re-seal has moved those to the current key. `wms credentials rotate-key` adds a key to the
// keyring file (JSON, mode 0600) and makes it current; a running cache sees the change within a
// second (one stat, as crl-watch.ts does), so rotation needs no restart. A deployment without a
// keyring file has one key, `credentials.encryptionKey`, as before.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { ERR, WmsError } from "../schemas/index.ts";
import { credentialKeyFromBase64, openCredential, sealCredential, sealedKeyId } from "./credential-seal.ts";

export interface KeyringFile {
  readonly current: string;
  /** id → base64 of 32 bytes */
  readonly keys: Readonly<Record<string, string>>;
}

export interface CredentialKeyringSource {
  /** The single key of a deployment without a keyring file; in a keyring it still opens old records. */
  readonly encryptionKey?: string;
  readonly keyringFile?: string;
}

export function credentialKeyId(key32: Buffer): string {
  return createHash("sha256").update(key32).digest("hex").slice(0, 12);
}

const KEYRING_CHECK_MS = 1000;

function parseKeyring(text: string, file: string): Map<string, Buffer> & { current?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new WmsError(ERR.BAD_CONFIG, `credential keyring ${file} is not JSON`);
  }
  const r = raw as Partial<KeyringFile>;
  if (typeof r !== "object" || r === null || typeof r.current !== "string" || typeof r.keys !== "object" || r.keys === null) {
    throw new WmsError(ERR.BAD_CONFIG, `credential keyring ${file} must be { "current": ID, "keys": { ID: base64 } }`);
  }
  const out = new Map<string, Buffer>() as Map<string, Buffer> & { current?: string };
  for (const [id, b64] of Object.entries(r.keys)) {
    const key = credentialKeyFromBase64(typeof b64 === "string" ? b64 : undefined);
    if (credentialKeyId(key) !== id) throw new WmsError(ERR.BAD_CONFIG, `credential keyring ${file}: key '${id}' does not match its id (${credentialKeyId(key)})`);
    out.set(id, key);
  }
  if (!out.has(r.current)) throw new WmsError(ERR.BAD_CONFIG, `credential keyring ${file}: the current key '${r.current}' is not among its keys`);
  out.current = r.current;
  return out;
}

export class CredentialKeyring {
  private keys = new Map<string, Buffer>();
  private currentId = "";
  private stamp = "";
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly source: CredentialKeyringSource,
    private readonly checkMs = KEYRING_CHECK_MS,
  ) {
    if (source.keyringFile === undefined && (source.encryptionKey === undefined || source.encryptionKey === "")) {
      // The same message as before keyrings: what a new deployment needs to set.
      credentialKeyFromBase64(undefined);
    }
    this.refresh(true);
  }

  /** The id of the key new records are sealed with. */
  get currentKeyId(): string {
    this.refresh();
    return this.currentId;
  }

  get keyIds(): string[] {
    this.refresh();
    return [...this.keys.keys()];
  }

  seal(plaintext: string, aad = ""): string {
    this.refresh();
    return sealCredential(plaintext, this.keys.get(this.currentId) as Buffer, aad, this.currentId);
  }

  /** Opens a record sealed under any key of the ring; says which. SEC_SEAL_KEY_UNKNOWN when its key is gone. */
  open(sealed: string, aad = ""): { plaintext: string; keyId: string } {
    this.refresh();
    const id = sealedKeyId(sealed);
    if (id !== undefined) {
      // A key another process just added (rotate-key --reseal) is looked for at once, not after the throttle.
      if (!this.keys.has(id)) this.refresh(false, true);
      const key = this.keys.get(id);
      if (key === undefined) throw new WmsError(ERR.SEC_SEAL_KEY_UNKNOWN, `sealed under credential key ${id}, which the keyring (${[...this.keys.keys()].join(", ")}) does not hold`);
      return { plaintext: openCredential(sealed, key, aad), keyId: id };
    }
    // Records from before key ids: whichever key opens them (GCM's tag tells a wrong key apart).
    let last: unknown;
    for (const [keyId, key] of this.keys) {
      try {
        return { plaintext: openCredential(sealed, key, aad), keyId };
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  /** Re-reads the keyring file when it changed (throttled); a file that breaks keeps the keys loaded. */
  refresh(strict = false, force = false): void {
    const now = Date.now();
    if (!strict && !force && now - this.lastCheck < this.checkMs) return;
    this.lastCheck = now;
    const keys = new Map<string, Buffer>();
    let current: string | undefined;
    if (this.source.encryptionKey !== undefined && this.source.encryptionKey !== "") {
      const k = credentialKeyFromBase64(this.source.encryptionKey);
      keys.set(credentialKeyId(k), k);
      current = credentialKeyId(k);
    }
    const file = this.source.keyringFile;
    if (file !== undefined) {
      let stamp: string;
      try {
        const st = statSync(file);
        stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      } catch (e) {
        if (!strict) return;
        // No keyring yet: the config key alone, until `rotate-key` writes one.
        if ((e as NodeJS.ErrnoException).code === "ENOENT" && current !== undefined) {
          this.keys = keys;
          this.currentId = current;
          return;
        }
        throw new WmsError(ERR.BAD_CONFIG, `credential keyring ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      if (!strict && stamp === this.stamp) return;
      try {
        const ring = parseKeyring(readFileSync(file, "utf8"), file);
        for (const [id, k] of ring) keys.set(id, k);
        current = ring.current;
        this.stamp = stamp;
      } catch (e) {
        if (strict) throw e;
        return;
      }
    }
    this.keys = keys;
    this.currentId = current as string;
  }
}

export interface RotateResult {
  readonly file: string;
  readonly currentKeyId: string;
  readonly previousKeyId: string | undefined;
  readonly keyIds: string[];
}

/**
 * Adds a new random key to the keyring file and makes it current (creating the file, seeded with
 * `encryptionKey` so the records sealed under it still open). Written to a temporary file and
 * renamed, mode 0600.
 */
export function rotateCredentialKey(source: CredentialKeyringSource & { keyringFile: string }): RotateResult {
  const file = source.keyringFile;
  let ring: KeyringFile = { current: "", keys: {} };
  try {
    const parsed = parseKeyring(readFileSync(file, "utf8"), file);
    ring = { current: parsed.current as string, keys: Object.fromEntries([...parsed].map(([id, k]) => [id, k.toString("base64")])) };
  } catch (e) {
    if (!(e instanceof Error && (e as NodeJS.ErrnoException).code === "ENOENT")) throw e;
  }
  const keys: Record<string, string> = { ...ring.keys };
  let previous: string | undefined = ring.current === "" ? undefined : ring.current;
  if (source.encryptionKey !== undefined && source.encryptionKey !== "") {
    const k = credentialKeyFromBase64(source.encryptionKey);
    keys[credentialKeyId(k)] = k.toString("base64");
    previous ??= credentialKeyId(k);
  }
  const fresh = randomBytes(32);
  const id = credentialKeyId(fresh);
  keys[id] = fresh.toString("base64");
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ current: id, keys }, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
  return { file, currentKeyId: id, previousKeyId: previous, keyIds: Object.keys(keys) };
}
