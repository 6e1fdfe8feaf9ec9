import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ERR, type JobSpec } from "../../schemas/index.ts";
import { fileChecksums } from "../../platform/checksums.ts";
import { stageIn } from "../../agents/pilot/stage-in.ts";
import { stageOut } from "../../agents/pilot/stage-out.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "pilot-staging-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function dirs(): { storage: string; jobDir: string } {
  const d = path.join(root, String(n++));
  const storage = path.join(d, "storage");
  const jobDir = path.join(d, "job");
  mkdirSync(path.join(storage, "data.raw"), { recursive: true });
  mkdirSync(jobDir, { recursive: true });
  return { storage, jobDir };
}

async function catalogEntry(storage: string, lfn: string, content: string): Promise<JobSpec["inputFiles"][number]> {
  writeFileSync(path.join(storage, lfn), content);
  const s = await fileChecksums(path.join(storage, lfn));
  return { lfn, dataset: "data.raw", size: s.size, adler32: s.adler32, md5: s.md5 };
}

const code = async (p: Promise<unknown>): Promise<number | undefined> => p.then(() => undefined, (e: { code?: number }) => e.code);

describe("stage-in", () => {
  it("copies inputs into the job dir and verifies them against the catalog", async () => {
    const { storage, jobDir } = dirs();
    const files = [await catalogEntry(storage, "data.raw/a.dat", "alpha\n"), await catalogEntry(storage, "data.raw/b.dat", "beta beta\n")];
    const staged = await stageIn(files, storage, jobDir);
    expect(staged.map((s) => s.localPath)).toEqual(["data.raw/a.dat", "data.raw/b.dat"]);
    expect(readFileSync(path.join(jobDir, "data.raw/b.dat"), "utf8")).toBe("beta beta\n");
  });

  it("refuses a file whose adler32 differs from the catalog", async () => {
    const { storage, jobDir } = dirs();
    const f = await catalogEntry(storage, "data.raw/a.dat", "alpha\n");
    expect(await code(stageIn([{ ...f, adler32: "00000001" }], storage, jobDir))).toBe(ERR.STAGEIN_CHECKSUM_MISMATCH);
  });

  it("refuses a file whose md5 differs from the catalog", async () => {
    const { storage, jobDir } = dirs();
    const f = await catalogEntry(storage, "data.raw/a.dat", "alpha\n");
    expect(await code(stageIn([{ ...f, md5: "0".repeat(32) }], storage, jobDir))).toBe(ERR.STAGEIN_CHECKSUM_MISMATCH);
  });

  it("refuses a file whose size differs, and a missing file", async () => {
    const { storage, jobDir } = dirs();
    const f = await catalogEntry(storage, "data.raw/a.dat", "alpha\n");
    expect(await code(stageIn([{ ...f, size: f.size + 1 }], storage, jobDir))).toBe(ERR.STAGEIN_SIZE_MISMATCH);
    expect(await code(stageIn([{ ...f, lfn: "data.raw/gone.dat" }], storage, jobDir))).toBe(ERR.STAGEIN_FILE_MISSING);
  });

  it("refuses an lfn that climbs out of the storage", async () => {
    const { storage, jobDir } = dirs();
    const f = await catalogEntry(storage, "data.raw/a.dat", "alpha\n");
    expect(await code(stageIn([{ ...f, lfn: "../../etc/passwd" }], storage, jobDir))).toBe(ERR.STAGEIN_FAILED);
  });
});

describe("stage-out", () => {
  it("copies outputs to <storage>/<dataset>/<jobId>/ with their checksums", async () => {
    const { storage, jobDir } = dirs();
    mkdirSync(path.join(jobDir, "outputs", "sub"), { recursive: true });
    writeFileSync(path.join(jobDir, "outputs", "result.txt"), "42\n");
    writeFileSync(path.join(jobDir, "outputs", "sub", "hist.dat"), "x".repeat(1000));
    const out = await stageOut({ jobDir, storagePath: storage, outputDataset: "user.out", jobId: "job-7", requireOutputs: true });
    expect(out.map((o) => o.lfn)).toEqual(["user.out/job-7/result.txt", "user.out/job-7/sub/hist.dat"]);
    const sums = await fileChecksums(path.join(storage, "user.out/job-7/sub/hist.dat"));
    expect(out[1]).toEqual({ lfn: "user.out/job-7/sub/hist.dat", size: 1000, adler32: sums.adler32, md5: sums.md5 });
    expect(readFileSync(path.join(storage, "user.out/job-7/result.txt"), "utf8")).toBe("42\n");
  });

  it("fails with STAGEOUT_NO_OUTPUT when the payload wrote nothing", async () => {
    const { storage, jobDir } = dirs();
    expect(await code(stageOut({ jobDir, storagePath: storage, outputDataset: "user.out", jobId: "j", requireOutputs: true }))).toBe(ERR.STAGEOUT_NO_OUTPUT);
    expect(await stageOut({ jobDir, storagePath: storage, outputDataset: "user.out", jobId: "j", requireOutputs: false })).toEqual([]);
  });

  it("refuses to follow a symlink the payload left in outputs/", async () => {
    const { storage, jobDir } = dirs();
    const secret = path.join(root, `secret-${n}`);
    writeFileSync(secret, "pilot token");
    chmodSync(secret, 0o600);
    mkdirSync(path.join(jobDir, "outputs"), { recursive: true });
    symlinkSync(secret, path.join(jobDir, "outputs", "loot.txt"));
    expect(await code(stageOut({ jobDir, storagePath: storage, outputDataset: "user.out", jobId: "j", requireOutputs: true }))).toBe(ERR.STAGEOUT_FAILED);
    expect(existsSync(path.join(storage, "user.out/j/loot.txt"))).toBe(false);
  });

  it("refuses an output dataset that would leave the storage", async () => {
    const { storage, jobDir } = dirs();
    mkdirSync(path.join(jobDir, "outputs"), { recursive: true });
    writeFileSync(path.join(jobDir, "outputs", "r.txt"), "1");
    expect(await code(stageOut({ jobDir, storagePath: storage, outputDataset: "../../elsewhere", jobId: "j", requireOutputs: true }))).toBe(ERR.STAGEOUT_FAILED);
  });
});
