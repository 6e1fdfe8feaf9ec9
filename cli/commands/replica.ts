import type { Command } from "commander";
import type { RedisClient } from "../../platform/redis-client.ts";
import { action, configFor, printJson, withAwayNote } from "../command-kit.ts";
import { ERR, WmsError, type WireNames, type WmsConfig } from "../../schemas/index.ts";

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Opens Redis and fails fast with one line when it does not answer. */
export async function withRedis<T>(cmd: Command, fn: (redis: RedisClient, names: WireNames, config: WmsConfig) => Promise<T>): Promise<T> {
  const { config, names } = configFor(cmd);
  const { connectRedis } = await import("../nats-connection.ts");
  const redis = await connectRedis(config);
  try {
    return await fn(redis, names, config);
  } finally {
    redis.disconnect();
  }
}

/** `LFN:SIZE:ADLER32:MD5`; the lfn may itself hold colons, so the three checksum fields are taken from the right. */
export function parseFileSpec(spec: string): { lfn: string; size: number; adler32: string; md5: string } {
  const parts = spec.split(":");
  if (parts.length < 4) throw new WmsError(ERR.USAGE, `--file '${spec}' must be LFN:SIZE:ADLER32:MD5`);
  const md5 = parts.pop() as string;
  const adler32 = (parts.pop() as string).toLowerCase();
  const sizeText = parts.pop() as string;
  const lfn = parts.join(":");
  const size = Number(sizeText);
  if (lfn === "" || lfn.startsWith("/")) throw new WmsError(ERR.USAGE, `--file '${spec}': the lfn must be a relative path inside the site storage`);
  if (!/^\d+$/.test(sizeText) || !Number.isSafeInteger(size)) throw new WmsError(ERR.USAGE, `--file '${spec}': size '${sizeText}' must be a whole number of bytes`);
  if (!/^[0-9a-f]{8}$/.test(adler32)) throw new WmsError(ERR.USAGE, `--file '${spec}': adler32 '${adler32}' must be 8 hex digits`);
  if (!/^[0-9a-f]{32}$/.test(md5.toLowerCase())) throw new WmsError(ERR.USAGE, `--file '${spec}': md5 '${md5}' must be 32 hex digits`);
  return { lfn, size, adler32, md5: md5.toLowerCase() };
}

/** Every regular file under `dir`, with its lfn relative to `root`. */
async function scanDir(dir: string, root: string): Promise<Array<{ lfn: string; size: number; adler32: string; md5: string }>> {
  const { readdir } = await import("node:fs/promises");
  const path = await import("node:path");
  const { fileChecksums } = await import("../../platform/checksums.ts");
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (e) {
    const { fileErrorText } = await import("../../platform/file-error-text.ts");
    throw new WmsError(ERR.FILE_UNREADABLE, `--from-dir ${dir}: ${fileErrorText(e)}`);
  }
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  files.sort();
  const out = [];
  for (const f of files) {
    const lfn = path.relative(root, f).split(path.sep).join("/");
    out.push({ lfn, ...(await fileChecksums(f)) });
  }
  return out;
}

export function registerReplica(program: Command): void {
  const replica = program.command("replica").description("the replica catalog: datasets, their files (size, adler32, md5) and the sites holding each file");

  replica
    .command("add")
    .description("register files of DATASET held at the given site(s): listed with --file, or every file found under --from-dir (checksums computed)")
    .argument("<dataset>", "dataset name, e.g. mc23.evgen.0001")
    .requiredOption("--site <site>", "a site holding these files (repeatable)", collect, [])
    .option("--file <spec>", "LFN:SIZE:ADLER32:MD5 of one file (repeatable)", collect, [])
    .option("--from-dir <dir>", "register every file under DIR, computing size, adler32 and md5")
    .option("--root <dir>", "with --from-dir: lfns are paths relative to this folder (default: the site's storagePath when DIR is inside it, else DIR)")
    .option("--json", "print what was registered as JSON")
    .action(
      action(async (dataset: string, opts: { site: string[]; file: string[]; fromDir?: string; root?: string; json?: boolean }, cmd: Command) => {
        if (opts.file.length === 0 && opts.fromDir === undefined) throw new WmsError(ERR.USAGE, "give the files with --file LFN:SIZE:ADLER32:MD5 or --from-dir DIR");
        if (/\s/.test(dataset)) throw new WmsError(ERR.USAGE, `dataset name '${dataset}' must not contain whitespace`);
        const listed = opts.file.map(parseFileSpec);
        await withRedis(cmd, async (redis, names, config) => {
          const path = await import("node:path");
          const { ReplicaCatalogStore } = await import("../../matchmaker/replica-catalog.ts");
          const { SiteRegistry } = await import("../../matchmaker/site-registry.ts");
          const sites = await new SiteRegistry(redis, names).listOrPublish(config.sitesFile);
          if (sites.length > 0) {
            for (const s of opts.site) {
              if (!sites.some((x) => x.name === s)) throw new WmsError(ERR.NOT_FOUND, `site ${s} is not in the site config; known sites: ${sites.map((x) => x.name).join(", ")}`);
            }
          } else {
            process.stderr.write("wms: warning: no sites are published (set sitesFile in wms.yaml); the site names are not checked\n");
          }
          let scanned: typeof listed = [];
          if (opts.fromDir !== undefined) {
            const dir = path.resolve(opts.fromDir);
            const storage = sites.find((s) => s.name === opts.site[0])?.storagePath;
            const inside = storage !== undefined && !path.relative(path.resolve(storage), dir).startsWith("..");
            const root = path.resolve(opts.root ?? (inside ? storage : dir));
            if (path.relative(root, dir).startsWith("..")) throw new WmsError(ERR.USAGE, `--from-dir ${dir} is not inside --root ${root}`);
            scanned = await scanDir(dir, root);
            if (scanned.length === 0) throw new WmsError(ERR.BAD_INPUT, `--from-dir ${dir} holds no files`);
          }
          const files = [...listed, ...scanned];
          await new ReplicaCatalogStore(redis, names).addFiles(dataset, files, opts.site);
          if (opts.json) return printJson({ dataset, sites: opts.site, files });
          process.stdout.write(`${dataset}: ${files.length} file(s) registered at ${opts.site.join(", ")}\n`);
        });
      }),
    );

  replica
    .command("list")
    .description("list the files of DATASET with their checksums and sites; without DATASET, list the datasets")
    .argument("[dataset]", "dataset name")
    .option("--json", "print as JSON")
    .action(
      action(async (dataset: string | undefined, opts: { json?: boolean }, cmd: Command) => {
        await withRedis(cmd, async (redis, names) => {
          const { ReplicaCatalogStore } = await import("../../matchmaker/replica-catalog.ts");
          const catalog = new ReplicaCatalogStore(redis, names);
          if (dataset === undefined) {
            const all = await catalog.datasets();
            if (opts.json) return printJson(all);
            if (all.length === 0) process.stdout.write(`${withAwayNote("no datasets", "add one with 'wms replica add' or 'wms replica load'")}\n`);
            for (const d of all) process.stdout.write(`${d}\n`);
            return;
          }
          const files = await catalog.listDataset(dataset);
          if (files === undefined) throw new WmsError(ERR.NOT_FOUND, `no dataset ${dataset} in the replica catalog; see 'wms replica list'`);
          if (opts.json) return printJson({ dataset, files });
          const width = Math.max(3, ...files.map((f) => f.lfn.length));
          process.stdout.write(`${"LFN".padEnd(width)}  ${"SIZE".padStart(12)}  ADLER32   MD5                               SITES\n`);
          for (const f of files) process.stdout.write(`${f.lfn.padEnd(width)}  ${String(f.size).padStart(12)}  ${f.adler32}  ${f.md5}  ${f.sites.join(",") || "-"}\n`);
          process.stdout.write(`${files.length} file(s)\n`);
        });
      }),
    );

  replica
    .command("load")
    .description("bulk-load a replica catalog file (YAML or JSON: { schemaVersion: 1, datasets: [{ name, files: [{ lfn, size, adler32, md5, sites }] }] })")
    .argument("<file>", "catalog file; schema in schemas/json/ReplicaCatalog.schema.json")
    .option("--json", "print the counts as JSON")
    .action(
      action(async (file: string, opts: { json?: boolean }, cmd: Command) => {
        const { readDataFile } = await import("../../platform/config.ts");
        const { ReplicaCatalog } = await import("../../schemas/index.ts");
        const data = readDataFile(file);
        const problems = ReplicaCatalog.problems(data);
        if (problems !== undefined) throw new WmsError(ERR.BAD_INPUT, `${file}: ${problems}`);
        const doc = ReplicaCatalog.parse(data);
        await withRedis(cmd, async (redis, names) => {
          const { ReplicaCatalogStore } = await import("../../matchmaker/replica-catalog.ts");
          const summary = await new ReplicaCatalogStore(redis, names).load(doc);
          if (opts.json) return printJson(summary);
          process.stdout.write(`loaded ${summary.datasets} dataset(s), ${summary.files} file(s), ${summary.replicas} replica(s)\n`);
        });
      }),
    );
}
