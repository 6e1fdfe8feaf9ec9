// The publisher's safety net: one file per report in a local folder, so a report survives RabbitMQ
// being away and the process dying. Each file is written to a temporary name, fsync'd, renamed into
// place and the folder fsync'd: a crash leaves either no file or a whole one, never half a report.
import { mkdirSync, readdirSync } from "node:fs";
import { open, readFile, readdir, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Report } from "../../schemas/index.ts";

const SUFFIX = ".report.json";
const TMP_PREFIX = ".tmp-";

export class ReportSpool {
  private seq = 0;
  /** Names, not a counter: a listing racing an append or a remove cannot make the count drift. */
  private readonly known: Set<string>;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.known = new Set(this.listSync());
  }

  private listSync(): string[] {
    return readdirSync(this.dir).filter((f) => f.endsWith(SUFFIX));
  }

  /** Files now in the folder (a publisher's own count; another process sharing the folder is not seen until `refresh`). */
  count(): number {
    return this.known.size;
  }

  async append(report: Report): Promise<string> {
    // Time first and zero-padded so a plain sort is oldest first, across restarts too.
    const safeId = report.reportId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
    const name = `${String(Date.now()).padStart(15, "0")}-${String(process.pid).padStart(7, "0")}-${String(this.seq++).padStart(9, "0")}-${safeId}${SUFFIX}`;
    const tmp = join(this.dir, TMP_PREFIX + name);
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(report));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, name));
    await this.syncDir();
    this.known.add(name);
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
    return (await readdir(this.dir)).filter((f) => f.endsWith(SUFFIX)).sort().slice(0, limit);
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
