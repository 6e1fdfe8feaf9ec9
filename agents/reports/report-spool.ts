// The publisher's safety net: one file per report in a local folder, so a report survives RabbitMQ
// being away and the process dying. Each file is written to a temporary name, fsync'd, renamed into
// place and the folder fsync'd: a crash leaves either no file or a whole one, never half a report.
// The folder is the node's, shared by its pilots: a file is sent by one publisher at a time, the one
// that claimed it by renaming it to `.claimed-<pid>-<spool>-<name>` (a rename succeeds for one caller
// only; <spool> tells apart the publishers of one process).
// After the confirm the claimed file is removed; a failed send renames it back. Claims of a process
// that is gone (or older than CLAIM_STALE_MS: a reused pid) are renamed back by a live publisher, so a
// pilot killed mid-send strands nothing. Without claims, each pilot resent every file it saw, and one
// outage sent each report once per pilot on the node.
import { mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { open, readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Report } from "../../schemas/index.ts";

const SUFFIX = ".report.json";
const TMP_PREFIX = ".tmp-";
const TMP_SUFFIX = ".part";

const CLAIM_PREFIX = ".claimed-";
/** A claim older than this is taken back though its pid lives: that pid may be another process's now. */
const CLAIM_STALE_MS = 10 * 60_000;
const CLAIMED = /^\.claimed-(\d+)-([0-9a-f]+)-(.+\.report\.json)$/;
/** The claims of each spool of this process, by its token: a token missing here is an earlier process's with our pid. */
const claimsInProcess = new Map<string, Set<string>>();

const isSpooled = (f: string): boolean => f.endsWith(SUFFIX) && !f.startsWith(TMP_PREFIX) && !f.startsWith(CLAIM_PREFIX);

/** The claiming pid, spool token and spooled name of a claimed file's name, or undefined for any other file. */
function parseClaim(f: string): { pid: number; token: string; name: string } | undefined {
  const m = CLAIMED.exec(f);
  return m ? { pid: Number(m[1]), token: m[2], name: m[3] } : undefined;
}

/**
 * Whether a claim is to be taken back: its process is gone, it is older than CLAIM_STALE_MS (rename
 * sets ctime, so `ctimeMs` is its age), or it is ours by pid but no spool of this process holds it.
 */
function orphaned(c: { pid: number; token: string; name: string }, ctimeMs?: number): boolean {
  if (c.pid === process.pid) return !(claimsInProcess.get(c.token)?.has(c.name) ?? false);
  if (processGone(c.pid)) return true;
  return ctimeMs !== undefined && ctimeMs < Date.now() - CLAIM_STALE_MS;
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    // EPERM: it lives under another user.
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export class ReportSpool {
  private seq = 0;
  /** Names, not a counter: a listing racing an append or a remove cannot make the count drift. */
  private readonly known: Set<string>;
  /** Our own appends between their count and their rename: not in the folder yet, not ghosts. */
  private readonly renaming = new Set<string>();
  /** Names this process has claimed and not yet removed or released. */
  private readonly claimed = new Set<string>();
  private readonly token = randomBytes(4).toString("hex");

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    claimsInProcess.set(this.token, this.claimed);
    this.removeStaleParts();
    this.releaseOrphansSync();
    this.known = new Set(this.listSync());
  }

  /** At start: claims of a process that is gone, or of an earlier process with our pid, go back to the folder. */
  private releaseOrphansSync(): void {
    for (const f of readdirSync(this.dir)) {
      const c = parseClaim(f);
      if (!c || !orphaned(c)) continue;
      try {
        renameSync(join(this.dir, f), join(this.dir, c.name));
      } catch {
        // its owner sent it or another publisher took it back first
      }
    }
  }

  /** Claims of a gone (or stale) process go back to the folder, to be sent by whoever claims them next. */
  private async releaseOrphans(entries: string[]): Promise<void> {
    for (const f of entries) {
      const c = parseClaim(f);
      if (!c) continue;
      const path = join(this.dir, f);
      const ctimeMs = c.pid === process.pid || processGone(c.pid) ? undefined : await stat(path).then((s) => s.ctimeMs, () => undefined);
      if (!orphaned(c, ctimeMs)) continue;
      await rename(path, join(this.dir, c.name)).catch(() => undefined);
    }
  }

  /**
   * A `.part` file is a write that crashed before its rename, so its publish() never resolved and
   * no caller was told it was safe. Old ones are removed; young ones may belong to a live process.
   */
  private removeStaleParts(): void {
    const cutoff = Date.now() - 10 * 60_000;
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith(TMP_PREFIX) || !f.endsWith(TMP_SUFFIX)) continue;
      const p = join(this.dir, f);
      try {
        if (statSync(p).mtimeMs < cutoff) unlinkSync(p);
      } catch {
        // gone already
      }
    }
  }

  private listSync(): string[] {
    return readdirSync(this.dir).flatMap((f) => (isSpooled(f) ? [f] : (parseClaim(f)?.name ?? [])));
  }

  private claimedName(name: string): string {
    return `${CLAIM_PREFIX}${process.pid}-${this.token}-${name}`;
  }

  /** Files now in the folder (a publisher's own count; another process sharing the folder is not seen until `adopt`). */
  count(): number {
    return this.known.size;
  }

  /**
   * Takes on whatever the folder holds now, whoever spooled it (a pilot that exited or died on this
   * node while RabbitMQ was away): the count then covers those files too, so the resend loop keeps
   * going until they are out. Files another live publisher has claimed count too (not confirmed
   * yet); claims of a process that is gone are taken back first. Returns the count.
   */
  async adopt(): Promise<number> {
    await this.releaseOrphans(await readdir(this.dir));
    // Names already whole in the folder before the listing starts: one the listing misses was sent
    // and removed by another process, so forget it, or the count keeps a ghost. A name appended
    // while the listing runs may be missing from it without being gone: it is not among these, nor
    // our own claims. (A file another process releases just as we list may be missed once: the
    // next adopt counts it again, and its sender lives.)
    const settled = [...this.known].filter((f) => !this.renaming.has(f) && !this.claimed.has(f));
    const files = (await readdir(this.dir)).flatMap((f) => (isSpooled(f) ? [f] : (parseClaim(f)?.name ?? [])));
    for (const f of files) this.known.add(f);
    const present = new Set(files);
    for (const f of settled) if (!present.has(f)) this.known.delete(f);
    return this.known.size;
  }

  async append(report: Report): Promise<string> {
    // Time first and zero-padded so a plain sort is oldest first, across restarts too.
    const safeId = report.reportId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
    const name = `${String(Date.now()).padStart(15, "0")}-${String(process.pid).padStart(7, "0")}-${String(this.seq++).padStart(9, "0")}-${safeId}${SUFFIX}`;
    const tmp = join(this.dir, TMP_PREFIX + name + TMP_SUFFIX);
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(report));
      await fh.sync();
    } catch (e) {
      // A write cut short (disk full) must not leave its part behind to keep the disk full.
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    // Counted before it becomes visible: a resend loop that lists, sends and removes it in between
    // must find it in the set, or the count would keep a ghost forever.
    this.known.add(name);
    this.renaming.add(name);
    try {
      await rename(tmp, join(this.dir, name));
    } catch (e) {
      this.known.delete(name);
      throw e;
    } finally {
      this.renaming.delete(name);
    }
    await this.syncDir();
    return name;
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /** Up to `limit` spooled file names no publisher has claimed, oldest first. */
  async oldest(limit: number): Promise<string[]> {
    return (await readdir(this.dir)).filter(isSpooled).sort().slice(0, limit);
  }

  /**
   * Claims spooled files for this process to send: the ones it got (another publisher may have
   * claimed or sent the rest). Only a claimed file may be read, then removed or released.
   */
  async claim(names: string[]): Promise<string[]> {
    const got: string[] = [];
    for (const name of names) {
      this.claimed.add(name);
      try {
        await rename(join(this.dir, name), join(this.dir, this.claimedName(name)));
        got.push(name);
      } catch {
        // ENOENT: another publisher claimed or sent it first.
        this.claimed.delete(name);
      }
    }
    return got;
  }

  /** Gives a claimed file back unsent (its send failed): any publisher on the node may claim it again. */
  async release(name: string): Promise<void> {
    if (!this.claimed.has(name)) return;
    try {
      await rename(join(this.dir, this.claimedName(name)), join(this.dir, name));
      this.claimed.delete(name);
    } catch {
      // Left claimed under our pid: the next adopt() of ours, or any publisher after we are gone, takes it back.
      this.claimed.delete(name);
    }
  }

  /** The report in a file this process claimed, or undefined when it is not a report (moved aside as `<name>.corrupt`). */
  async read(name: string): Promise<Report | undefined> {
    const path = join(this.dir, this.claimedName(name));
    try {
      const value: unknown = JSON.parse(await readFile(path, "utf8"));
      if (value && typeof value === "object" && "reportId" in value && "kind" in value) return value as Report;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        this.claimed.delete(name);
        this.known.delete(name);
        return undefined;
      }
    }
    await rename(path, join(this.dir, `${name}.corrupt`)).catch(() => undefined);
    this.claimed.delete(name);
    this.known.delete(name);
    return undefined;
  }

  /** Removes a file this process claimed, once the broker confirmed its report. */
  async remove(name: string): Promise<void> {
    try {
      await unlink(join(this.dir, this.claimedName(name)));
    } catch (e) {
      // Taken back as stale and sent by another publisher meanwhile: fine, it was confirmed.
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    this.claimed.delete(name);
    this.known.delete(name);
  }
}
