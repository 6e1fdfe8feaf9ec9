// Stage-out: copies what the payload left in `outputs/` to `<storage>/<outputDataset>/<jobId>/`,
// with checksums taken before and after the copy so a damaged copy is never reported as output.
import { copyFile, lstat, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { ERR, WmsError, type StateReport } from "../../schemas/index.ts";
import { fileChecksums } from "../../platform/checksums.ts";
import { resolveInside } from "./storage-path.ts";

export type StagedOutput = NonNullable<StateReport["outputs"]>[number];

export const OUTPUTS_DIR = "outputs";

/**
 * Regular files only. The payload may have run as another user: a symlink in `outputs/` could point
 * at the pilot's own secrets, and the pilot, copying with its own rights, must not follow it.
 */
async function listRegularFiles(dir: string, rel = ""): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...(await listRegularFiles(dir, r)));
    else if (e.isFile()) out.push(r);
    else throw new WmsError(ERR.STAGEOUT_FAILED, `outputs/${r} is not a regular file (symlinks and devices are refused)`);
  }
  return out;
}

export interface StageOutOptions {
  readonly jobDir: string;
  readonly storagePath: string;
  readonly outputDataset: string;
  readonly jobId: string;
  /** A job that declares an output dataset but writes nothing fails with STAGEOUT_NO_OUTPUT. */
  readonly requireOutputs: boolean;
}

export async function stageOut(o: StageOutOptions): Promise<StagedOutput[]> {
  const srcDir = path.join(o.jobDir, OUTPUTS_DIR);
  const destRel = path.join(o.outputDataset, o.jobId);
  const destDir = resolveInside(o.storagePath, destRel);
  if (destDir === undefined) throw new WmsError(ERR.STAGEOUT_FAILED, `output dataset '${o.outputDataset}' leaves the storage directory`);
  const files = await listRegularFiles(srcDir);
  if (files.length === 0) {
    if (o.requireOutputs) throw new WmsError(ERR.STAGEOUT_NO_OUTPUT, `nothing in ${OUTPUTS_DIR}/ of job ${o.jobId}; the payload must write its results there`);
    return [];
  }
  const staged: StagedOutput[] = [];
  for (const rel of files) {
    const src = path.join(srcDir, rel);
    const st = await lstat(src);
    if (!st.isFile()) throw new WmsError(ERR.STAGEOUT_FAILED, `outputs/${rel} changed into a non-regular file during stage-out`);
    const before = await fileChecksums(src);
    const dst = path.join(destDir, rel);
    try {
      await mkdir(path.dirname(dst), { recursive: true });
      await copyFile(src, dst);
    } catch (e) {
      throw new WmsError(ERR.STAGEOUT_FAILED, `outputs/${rel}: copy to ${dst} failed (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    const after = await fileChecksums(dst);
    if (after.size !== before.size || after.adler32 !== before.adler32 || after.md5 !== before.md5) {
      throw new WmsError(ERR.STAGEOUT_CHECKSUM_MISMATCH, `outputs/${rel}: ${before.adler32}/${before.size} B before copy, ${after.adler32}/${after.size} B after`);
    }
    staged.push({ lfn: path.join(destRel, rel).split(path.sep).join("/"), size: after.size, adler32: after.adler32, md5: after.md5 });
  }
  return staged;
}
