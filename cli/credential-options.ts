// The caller's grid credential from `--cert` / `--key`: both `wms proxy` (delegation) and
// `wms task` (signing batches and controls) need the same files read and checked the same way.
import { fileErrorText } from "../platform/file-error-text.ts";
import { ERR, WmsError } from "../schemas/index.ts";

export interface CallerCredential {
  /** The certificate (or proxy) first, then the chain that issued it. */
  readonly certChain: string[];
  readonly keyPem: string;
}

/** Reads and sanity-checks the PEM files; a missing or empty file is one line naming the option. */
export async function readCredentialOptions(certPath: string, keyPath: string): Promise<CallerCredential> {
  const { readFile } = await import("node:fs/promises");
  const { splitPems } = await import("../security/index.ts");
  const read = async (p: string, what: string): Promise<string> => {
    try {
      return await readFile(p, "utf8");
    } catch (e) {
      throw new WmsError(ERR.FILE_UNREADABLE, `${what} ${p}: ${fileErrorText(e)}`);
    }
  };
  const certChain = splitPems(await read(certPath, "--cert"));
  const keyPem = await read(keyPath, "--key");
  if (certChain.length === 0) throw new WmsError(ERR.BAD_INPUT, `--cert ${certPath} holds no PEM certificate`);
  if (!keyPem.includes("PRIVATE KEY")) throw new WmsError(ERR.BAD_INPUT, `--key ${keyPath} holds no PEM private key`);
  return { certChain, keyPem };
}
