// The replica catalog: datasets, their files (lfn, size, adler32, md5) and the sites holding each
// file, in Redis so every intake instance sees the same data. Edge module: takes a connection.
//
// Layout under `<ns>:replica:`
//   datasets                  SET  of dataset names
//   files:<dataset>           HASH lfn → {"size","adler32","md5"} (JSON)
//   holders:<dataset>         SET  of sites holding at least one file of the dataset
//   at:<dataset>:<site>       SET  of lfns of the dataset held at the site
// Replicas are kept per (dataset, site) rather than per file, so the questions brokerage asks
// ("which sites hold these files?") cost one command per site, not one per file, and a 10,000-file
// dataset is read in three round trips. Batches are separate commands rather than pipelines, since a
// Redis Cluster pipeline must stay in one slot; the connection is auto-pipelined, so a batch still
// leaves in one write per server.
import type { RedisClient } from "../platform/redis-client.ts";
import { ERR, WmsError, type CatalogFile, type ReplicaCatalog, type WireNames } from "../schemas/index.ts";

/** A file's identity and checksums, as the catalog records them. */
export interface CatalogEntry {
  readonly lfn: string;
  readonly size: number;
  readonly adler32: string;
  readonly md5: string;
}

/** A file of a dataset with the sites holding it (sorted). */
export interface DatasetFile extends CatalogEntry {
  readonly sites: readonly string[];
}

export interface LoadSummary {
  datasets: number;
  files: number;
  replicas: number;
}

const CHUNK = 1000;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function encode(f: CatalogEntry): string {
  return JSON.stringify({ size: f.size, adler32: f.adler32, md5: f.md5 });
}

function decode(lfn: string, json: string): CatalogEntry {
  const v = JSON.parse(json) as { size: number; adler32: string; md5: string };
  return { lfn, size: v.size, adler32: v.adler32, md5: v.md5 };
}


export class ReplicaCatalogStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: WireNames,
  ) {}

  private get datasetsKey(): string {
    return this.names.redisKey("replica", "datasets");
  }
  private filesKey(dataset: string): string {
    return this.names.redisKey("replica", "files", dataset);
  }
  private holdersKey(dataset: string): string {
    return this.names.redisKey("replica", "holders", dataset);
  }
  private atKey(dataset: string, site: string): string {
    return this.names.redisKey("replica", "at", dataset, site);
  }

  /**
   * Registers files of a dataset and records a replica of each at every site given (none is fine:
   * the files are known, held nowhere yet). A file already registered with other size or checksums
   * is refused and nothing is written — a catalog that silently changed a checksum would make every
   * stage-in of that file fail.
   */
  async addFiles(dataset: string, files: readonly CatalogEntry[], sites: readonly string[]): Promise<void> {
    await this.checkConsistent(dataset, files);
    for (const part of chunks(files)) {
      // Any failure rejects the batch, so a half-written batch is not reported as done.
      await Promise.all([
        this.redis.sadd(this.datasetsKey, dataset),
        this.redis.hset(this.filesKey(dataset), Object.fromEntries(part.map((f) => [f.lfn, encode(f)]))),
        ...sites.flatMap((site) => [this.redis.sadd(this.holdersKey(dataset), site), this.redis.sadd(this.atKey(dataset, site), ...part.map((f) => f.lfn))]),
      ]);
    }
    if (files.length === 0) await this.redis.sadd(this.datasetsKey, dataset);
  }

  private async checkConsistent(dataset: string, files: readonly CatalogEntry[]): Promise<void> {
    const seen = new Map<string, string>();
    for (const f of files) {
      const prev = seen.get(f.lfn);
      if (prev !== undefined && prev !== encode(f)) throw new WmsError(ERR.BAD_INPUT, `${dataset}: file ${f.lfn} is listed twice with different size or checksums`);
      seen.set(f.lfn, encode(f));
    }
    for (const part of chunks(files)) {
      const existing = await this.redis.hmget(this.filesKey(dataset), ...part.map((f) => f.lfn));
      part.forEach((f, i) => {
        const old = existing[i];
        if (old !== null && old !== encode(f)) {
          const o = decode(f.lfn, old);
          throw new WmsError(ERR.BAD_INPUT, `${dataset}: file ${f.lfn} is in the catalog with size ${o.size}, adler32 ${o.adler32}, md5 ${o.md5}; a file's checksums never change, register the new content under a new lfn`);
        }
      });
    }
  }

  /** Records that `site` holds a replica of a file already in the catalog. */
  async addReplica(dataset: string, lfn: string, site: string): Promise<void> {
    if ((await this.redis.hexists(this.filesKey(dataset), lfn)) !== 1) {
      throw new WmsError(ERR.NOT_FOUND, `${dataset}: no file ${lfn} in the catalog; add it with its size and checksums first (wms replica add)`);
    }
    await Promise.all([this.redis.sadd(this.holdersKey(dataset), site), this.redis.sadd(this.atKey(dataset, site), lfn)]);
  }

  /** Forgets the replica at `site` (the site lost or deleted the file); the file stays known. */
  async removeReplica(dataset: string, lfn: string, site: string): Promise<void> {
    await this.redis.srem(this.atKey(dataset, site), lfn);
    if ((await this.redis.scard(this.atKey(dataset, site))) === 0) await this.redis.srem(this.holdersKey(dataset), site);
  }

  /** How many files the dataset holds (one HLEN: the open-task planner's cheap "anything new?"). */
  async fileCount(dataset: string): Promise<number> {
    return this.redis.hlen(this.filesKey(dataset));
  }

  async hasDataset(dataset: string): Promise<boolean> {
    return (await this.redis.sismember(this.datasetsKey, dataset)) === 1;
  }

  async datasets(): Promise<string[]> {
    return (await this.redis.smembers(this.datasetsKey)).sort();
  }

  /** Every file of the dataset in lfn order with the sites holding it; undefined for an unknown dataset. */
  async listDataset(dataset: string): Promise<DatasetFile[] | undefined> {
    const [known, files, holders] = await Promise.all([this.redis.sismember(this.datasetsKey, dataset), this.redis.hgetall(this.filesKey(dataset)), this.redis.smembers(this.holdersKey(dataset))]);
    if (known !== 1) return undefined;
    const sitesOf = await this.replicaMap(dataset, holders);
    return Object.keys(files)
      .sort()
      .map((lfn) => ({ ...decode(lfn, files[lfn]), sites: sitesOf.get(lfn) ?? [] }));
  }

  /** lfn → sites, read one SMEMBERS per holding site in one round trip. */
  private async replicaMap(dataset: string, holders: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (holders.length === 0) return out;
    const sorted = [...holders].sort();
    const sets = await Promise.all(sorted.map((site) => this.redis.smembers(this.atKey(dataset, site))));
    sorted.forEach((site, i) => {
      for (const lfn of sets[i]) {
        const list = out.get(lfn);
        if (list) list.push(site);
        else out.set(lfn, [site]);
      }
    });
    return out;
  }

  /**
   * For each lfn, the sites holding it (sorted; empty when none). One round trip for the holders and
   * one pipelined SMISMEMBER per holding site, however many files are asked about.
   */
  async sitesHolding(dataset: string, lfns: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(lfns.map((l) => [l, []]));
    if (lfns.length === 0) return out;
    const holders = (await this.redis.smembers(this.holdersKey(dataset))).sort();
    if (holders.length === 0) return out;
    const parts = chunks(lfns, 5000);
    const res = await Promise.all(holders.flatMap((site) => parts.map((part) => this.redis.smismember(this.atKey(dataset, site), ...part))));
    let k = 0;
    for (const site of holders) {
      for (const part of parts) {
        const flags = res[k++];
        part.forEach((lfn, i) => {
          if (flags[i] === 1) out.get(lfn)?.push(site);
        });
      }
    }
    return out;
  }

  /** Files the site holds across all datasets (the monitor's "files held"). */
  async filesHeld(site: string): Promise<number> {
    const datasets = await this.redis.smembers(this.datasetsKey);
    if (datasets.length === 0) return 0;
    const counts = await Promise.all(datasets.map((d) => this.redis.scard(this.atKey(d, site))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Bulk load of a validated catalog file: each file's replicas grouped by site, so it costs a few pipelines per dataset. */
  async load(catalog: ReplicaCatalog): Promise<LoadSummary> {
    const summary: LoadSummary = { datasets: 0, files: 0, replicas: 0 };
    for (const ds of catalog.datasets) {
      const bySite = new Map<string, CatalogFile[]>();
      for (const f of ds.files) {
        for (const site of f.sites) {
          const list = bySite.get(site);
          if (list) list.push(f);
          else bySite.set(site, [f]);
        }
      }
      await this.addFiles(ds.name, ds.files, []);
      for (const [site, files] of bySite) {
        for (const part of chunks(files)) {
          await Promise.all([this.redis.sadd(this.holdersKey(ds.name), site), this.redis.sadd(this.atKey(ds.name, site), ...part.map((f) => f.lfn))]);
        }
        summary.replicas += files.length;
      }
      summary.datasets += 1;
      summary.files += ds.files.length;
    }
    return summary;
  }
}
