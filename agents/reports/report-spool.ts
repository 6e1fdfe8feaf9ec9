// The publisher's safety net: one file per report in a local folder, so a report survives RabbitMQ
// being away and the process dying. Each file is written to a temporary name, fsync'd, renamed into
// place and the folder fsync'd: a crash leaves either no file or a whole one, never half a report.
import { mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { open, readFile, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Report } from "../../schemas/index.ts";

const SUFFIX = ".report.json";
const TMP_PREFIX = ".tmp-";
const TMP_SUFFIX = ".part";

const isSpooled = (f: string): boolean => f.endsWith(SUFFIX) && !f.startsWith(TMP_PREFIX);

export class ReportSpool {
  private seq = 0;
  /** Names, not a counter: a listing racing an append or a remove cannot make the count drift. */
  private readonly known: Set<string>;
  /** Our own appends between their count and their rename: not in the folder yet, not ghosts. */
  private readonly renaming = new Set<string>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.known = new Set(this.listSync());
    this.removeStaleParts();
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
    return readdirSync(this.dir).filter(isSpooled);
  }

  /** Files now in the folder (a publisher's own count; another process sharing the folder is not seen until `adopt`). */
  count(): number {
    return this.known.size;
  }

  /**
   * Takes on whatever the folder holds now, whoever spooled it (a pilot that exited or died on this
   * node while RabbitMQ was away): the count then covers those files too, so the resend loop keeps
   * going until they are out. Returns the count.
   */
  async adopt(): Promise<number> {
    // Names already whole in the folder before the listing starts: one the listing misses was sent
    // and removed by another process, so forget it, or the count keeps a ghost. A name appended
    // while the listing runs may be missing from it without being gone: it is not among these.
    const settled = [...this.known].filter((f) => !this.renaming.has(f));
    const files = (await readdir(this.dir)).filter(isSpooled);
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

  /** Up to `limit` spooled file names, oldest first. */
  async oldest(limit: number): Promise<string[]> {
    return (await readdir(this.dir)).filter(isSpooled).sort().slice(0, limit);
  }

  /** The report in a spooled file, or undefined when the file is not a report (moved aside as `.corrupt`). */
  async read(name: string): Promise<Report | undefined> {
    const path = join(this.dir, name);
    try {
      const value: unknown = JSON.parse(await readFile(path, "utf8"));
      if (value && typeof value === "object" && "reportId" in value && "kind" in value) return value as Report;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        this.known.delete(name);
        return undefined;
      }
    }
    await rename(path, `${path}.corrupt`).catch(() => undefined);
    this.known.delete(name);
    return undefined;
  }

  async remove(name: string): Promise<void> {
    try {
      await unlink(join(this.dir, name));
      this.known.delete(name);
    } catch (e) {
      // Another publisher on the same folder sent and removed it first: fine, it was confirmed.
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      this.known.delete(name);
    }
  }
}
