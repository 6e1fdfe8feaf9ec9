// Stage-in: copies a job's input files from the site storage into its work dir and proves each
// copy against the catalog's size and checksums: a short or corrupt copy is caught before the
// payload reads it, not after it has run on bad data.
import { copyFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { ERR, WmsError, type JobSpec } from "../../schemas/index.ts";
import { fileChecksums } from "../../platform/checksums.ts";
import { resolveInside } from "./storage-path.ts";

export interface StagedFile {
  readonly lfn: string;
  /** Path relative to the job dir, as the payload sees it. */
  readonly localPath: string;
  readonly size: number;
}

/** Copies every input; the first failure throws a WmsError with its STAGEIN_* code and nothing runs. */
export async function stageIn(inputs: JobSpec["inputFiles"], storagePath: string, jobDir: string): Promise<StagedFile[]> {
  const staged: StagedFile[] = [];
  for (const f of inputs) {
    const src = resolveInside(storagePath, f.lfn);
    const dst = resolveInside(jobDir, f.lfn);
    if (src === undefined || dst === undefined) throw new WmsError(ERR.STAGEIN_FAILED, `input lfn '${f.lfn}' leaves the storage directory; fix the replica catalog`);
    let size: number;
    try {
      const st = await stat(src);
      if (!st.isFile()) throw new WmsError(ERR.STAGEIN_FILE_MISSING, `${f.lfn} is not a regular file at ${src}`);
      size = st.size;
    } catch (e) {
      if (e instanceof WmsError) throw e;
      throw new WmsError(ERR.STAGEIN_FILE_MISSING, `${f.lfn} not found at ${src} (${(e as NodeJS.ErrnoException).code ?? String(e)}); check the site storage`);
    }
    if (size !== f.size) throw new WmsError(ERR.STAGEIN_SIZE_MISMATCH, `${f.lfn}: ${size} bytes in storage, catalog says ${f.size}`);
    try {
      await mkdir(path.dirname(dst), { recursive: true });
      await copyFile(src, dst);
    } catch (e) {
      throw new WmsError(ERR.STAGEIN_FAILED, `${f.lfn}: copy to ${dst} failed (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    // Checksums are taken on the copy, so a fault in the copy is caught too, not only a bad source.
    const sums = await fileChecksums(dst);
    if (sums.size !== f.size) throw new WmsError(ERR.STAGEIN_SIZE_MISMATCH, `${f.lfn}: copy has ${sums.size} bytes, catalog says ${f.size}`);
    if (sums.adler32 !== f.adler32) throw new WmsError(ERR.STAGEIN_CHECKSUM_MISMATCH, `${f.lfn}: adler32 ${sums.adler32}, catalog says ${f.adler32}`);
    if (sums.md5 !== f.md5) throw new WmsError(ERR.STAGEIN_CHECKSUM_MISMATCH, `${f.lfn}: md5 ${sums.md5}, catalog says ${f.md5}`);
    staged.push({ lfn: f.lfn, localPath: path.relative(jobDir, dst), size });
  }
  return staged;
}
