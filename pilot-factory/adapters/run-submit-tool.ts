import { execFile } from "node:child_process";
import { ERR, WmsError } from "../../schemas/index.ts";

/** Runs a batch system's submit command; a non-zero exit becomes FACTORY_SUBMIT_FAILED with its first stderr line. */
export function runSubmitTool(tool: string, args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const why = String(stderr).trim().split("\n")[0] || err.message.split("\n")[0];
        reject(new WmsError(ERR.FACTORY_SUBMIT_FAILED, `${tool}: ${why}`));
        return;
      }
      resolve(String(stdout));
    });
  });
}
