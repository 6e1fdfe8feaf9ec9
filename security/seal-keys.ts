// A seal purpose's keys on disk. One file per purpose (`<pki>/seals/<purpose>.keys`, mode 0600,
// made by `wms pki init`), one `<id> <base64 32 bytes>` a line: the first seals, the second is the
// previous key, still accepted so records sealed before a rotation (`wms pki rotate-seal-key`)
// stay valid while they are queued. A reader that meets an id it does not hold re-reads the file
// (at most once a second), and a sealer notices a rotated file within ROTATION_CHECK_MS, so a
// rotation needs no restart, in whichever order the services see it.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";
import { JOB_SPEC_SEAL_PURPOSE } from "./job-spec-seal.ts";
import { ONE_TIME_KEY_SEAL_PURPOSE } from "./one-time-key-store.ts";
import { HEARTBEAT_SEAL_PURPOSE } from "./heartbeat-key.ts";
import { REPORT_KEY_SEAL_PURPOSE } from "./report-key-seal.ts";
import { AUDIT_RECORD_SEAL_PURPOSE } from "./report-signing.ts";
import { newSealKey, SEAL_KEY_BYTES, SealVerifier, ServiceSealer, type SealKey, type SealKeyring } from "./service-seal.ts";

/** Each seal's purpose and the only services that hold its key (the one that seals, the one that checks). */
export const SEAL_PURPOSES = {
  [JOB_SPEC_SEAL_PURPOSE]: ["intake", "matchmaker"],
  [ONE_TIME_KEY_SEAL_PURPOSE]: ["matchmaker", "credentials"],
  // The credential cache's own audit records, checked by the audit agent: a pilot (which may also
  // publish audit records) holds no key to pass one off as the cache's.
  [AUDIT_RECORD_SEAL_PURPOSE]: ["credentials", "agents"],
  // The report key a claim binds to an attempt, on the job's record: sealed by the matchmaker that
  // claims, checked by the agents before they verify a report with it.
  [REPORT_KEY_SEAL_PURPOSE]: ["matchmaker", "agents"],
  // Each attempt's heartbeat key is derived from it (heartbeat-key.ts): made and checked by
  // matchmakers only, so no other service can renew a lease either.
  [HEARTBEAT_SEAL_PURPOSE]: ["matchmaker", "matchmaker"],
} as const;
export type SealPurpose = keyof typeof SEAL_PURPOSES;

/** How often a sealer looks whether its key file was rotated. */
export const ROTATION_CHECK_MS = 5000;
/** The least time between two re-reads a reader makes for an unknown key id. */
const RELOAD_FOR_UNKNOWN_MS = 1000;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Where a purpose's key file sits in a PKI folder. */
export function sealKeysPath(pkiDir: string, purpose: string): string {
  return join(pkiDir, "seals", `${purpose}.keys`);
}

/**
 * The key file a service uses for `purpose`: the one its configuration names
 * (pki.jobSpecSealKeysFile / pki.oneTimeKeySealKeysFile, or their WMS_*_FILE variables), else the
 * PKI folder's.
 */
export function sealKeysFile(pki: { readonly dir: string; readonly jobSpecSealKeysFile?: string; readonly oneTimeKeySealKeysFile?: string }, purpose: SealPurpose): string {
  const named = purpose === JOB_SPEC_SEAL_PURPOSE ? pki.jobSpecSealKeysFile : purpose === ONE_TIME_KEY_SEAL_PURPOSE ? pki.oneTimeKeySealKeysFile : undefined;
  return named ?? sealKeysPath(pki.dir, purpose);
}

function parseKeys(text: string, path: string): SealKey[] {
  const keys: SealKey[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [id, b64, extra] = line.split(/\s+/);
    const secret = Buffer.from(b64 ?? "", "base64");
    if (!KEY_ID.test(id ?? "") || secret.length !== SEAL_KEY_BYTES || extra !== undefined) {
      throw new WmsError(ERR.BAD_CONFIG, `${path}: each line is '<key id> <base64 of ${SEAL_KEY_BYTES} bytes>'`);
    }
    keys.push({ id: id as string, secret });
  }
  if (keys.length === 0) throw new WmsError(ERR.BAD_CONFIG, `${path}: no seal key; run 'wms pki rotate-seal-key' to make one`);
  return keys.slice(0, 2);
}

function keysText(purpose: string, keys: readonly SealKey[]): string {
  return [
    `# pilot-wms ${purpose} seal keys (HMAC-SHA256). The first seals; the second, the previous one, is still accepted.`,
    `# Rotate with 'wms pki rotate-seal-key --purpose ${purpose}'; every holder of this file picks the change up without a restart.`,
    ...keys.map((k) => `${k.id} ${k.secret.toString("base64")}`),
  ].join("\n") + "\n";
}

/** Writes `file` with a fresh key (mode 0600); `wms pki init` does this for each purpose. */
export function createSealKeys(file: string, purpose: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, keysText(purpose, [newSealKey()]), { mode: 0o600, flag: "wx" });
}

/**
 * A new current key in `file`; the current one becomes the previous and the one before is dropped
 * (records sealed under it stop verifying: rotate no more often than the longest a job waits queued).
 * The file is replaced by rename, so a reader never sees half of it. A missing file is made (a PKI
 * folder from before the seals were HMACs): `previous` is then empty.
 */
export function rotateSealKeys(file: string, purpose: string): { readonly current: string; readonly previous: string } {
  if (!existsSync(file)) {
    createSealKeys(file, purpose);
    return { current: parseKeys(readKeyFile(file), file)[0]?.id ?? "", previous: "" };
  }
  const [current] = parseKeys(readKeyFile(file), file);
  const next = newSealKey();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, keysText(purpose, [next, current as SealKey]), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return { current: next.id, previous: (current as SealKey).id };
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new WmsError(ERR.FILE_UNREADABLE, `seal keys ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; 'wms pki init' makes them ('wms pki rotate-seal-key --dir DIR' in a PKI folder made before)`);
  }
}

/** One purpose's keys, read from its file and re-read when it changes. */
export class SealKeyFile implements SealKeyring {
  private keys: readonly SealKey[];
  private version = "";
  private checkedAt = 0;

  private constructor(
    private readonly file: string,
    keys: readonly SealKey[],
    private readonly clock: () => number,
  ) {
    this.keys = keys;
  }

  static open(file: string, clock: () => number = Date.now): SealKeyFile {
    const k = new SealKeyFile(file, [], clock);
    k.load();
    return k;
  }

  private load(): void {
    this.checkedAt = this.clock();
    const st = statSync(this.file, { throwIfNoEntry: false });
    if (st === undefined) readKeyFile(this.file); // throws its one-line error
    // A rotation replaces the file (rename): a new inode, or at least a new mtime.
    const version = st === undefined ? "" : `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (version === this.version) return;
    this.keys = parseKeys(readKeyFile(this.file), this.file);
    this.version = version;
  }

  /** A re-read while running: a file that vanished or does not parse keeps the keys already held. */
  private reload(): void {
    try {
      this.load();
    } catch {
      // the next check tries again; sealing and verifying go on with the keys held
    }
  }

  current(): SealKey {
    if (this.clock() - this.checkedAt >= ROTATION_CHECK_MS) this.reload();
    return this.keys[0] as SealKey;
  }

  byId(id: string): SealKey | undefined {
    let k = this.keys.find((x) => x.id === id);
    if (k === undefined && this.clock() - this.checkedAt >= RELOAD_FOR_UNKNOWN_MS) {
      this.reload();
      k = this.keys.find((x) => x.id === id);
    }
    return k;
  }
}


type PkiConfig = Parameters<typeof sealKeysFile>[0];

/** The sealer of `purpose` for a service configured with `pki` (its key file, re-read on rotation). */
export function openSealer(pki: PkiConfig, purpose: SealPurpose): ServiceSealer {
  return new ServiceSealer(SealKeyFile.open(sealKeysFile(pki, purpose)), purpose);
}

/** The seal checker of `purpose` for a service configured with `pki`. */
export function openSealVerifier(pki: PkiConfig, purpose: SealPurpose): SealVerifier {
  return new SealVerifier(SealKeyFile.open(sealKeysFile(pki, purpose)), purpose);
}

/** The matchmaker's purposes' keys from a PKI folder (the demo and tests, which host several services in one process). */
export function pkiSealKeys(pkiDir: string): { readonly jobSpec: SealKeyring; readonly oneTimeKey: SealKeyring; readonly reportKey: SealKeyring; readonly heartbeat: SealKeyring } {
  return {
    heartbeat: SealKeyFile.open(sealKeysPath(pkiDir, HEARTBEAT_SEAL_PURPOSE)),
    jobSpec: SealKeyFile.open(sealKeysPath(pkiDir, JOB_SPEC_SEAL_PURPOSE)),
    oneTimeKey: SealKeyFile.open(sealKeysPath(pkiDir, ONE_TIME_KEY_SEAL_PURPOSE)),
    reportKey: SealKeyFile.open(sealKeysPath(pkiDir, REPORT_KEY_SEAL_PURPOSE)),
  };
}
