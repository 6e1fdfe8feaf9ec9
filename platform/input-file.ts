// Files a user names (on the command line or in a configuration) read as text: one coded line
// when they cannot be, and never an endless read. Shared by data files (platform/config.ts) and
// the credential and key files of the CLI.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { ERR, WmsError } from "../schemas/index.ts";
import { fileErrorText } from "./file-error-text.ts";

/**
 * The most of a file named on a command line or in a configuration read: task batches, site,
 * factory and config files, replica catalogs, certificates and keys are far smaller. A pipe that
 * does not end (`<(yes)`) is refused once past it rather than read until memory runs out.
 */
export const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

/**
 * The text of a file a user named (`label` goes before its path in errors, e.g. "--cert "). Devices
 * are refused before a byte is read (/dev/zero, named by mistake, never ends: 5 GB in 30 s); a pipe,
 * as `<(envsubst < task.yaml)` gives, is read up to MAX_DATA_FILE_BYTES; more is `tooLarge`.
 */
export function readInputText(path: string, tooLarge: typeof ERR.BAD_INPUT | typeof ERR.BAD_CONFIG = ERR.BAD_INPUT, label = ""): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new WmsError(ERR.FILE_UNREADABLE, `${label}${path}: ${fileErrorText(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isSocket()) throw new WmsError(ERR.FILE_UNREADABLE, `${label}${path}: a device, not a file`);
    if (st.isFile()) {
      if (st.size > MAX_DATA_FILE_BYTES) throw new WmsError(tooLarge, `${label}${path}: ${st.size} bytes, more than the ${MAX_DATA_FILE_BYTES / 1024 / 1024} MB a data file may hold`);
      return readFileSync(fd, "utf8");
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(1 << 20);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_DATA_FILE_BYTES) throw new WmsError(tooLarge, `${label}${path}: more than the ${MAX_DATA_FILE_BYTES / 1024 / 1024} MB a data file may hold`);
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } catch (e) {
    if (e instanceof WmsError) throw e;
    throw new WmsError(ERR.FILE_UNREADABLE, `${label}${path}: ${fileErrorText(e)}`);
  } finally {
    closeSync(fd);
  }
}
