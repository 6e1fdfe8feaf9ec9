// The caller's grid credential from `--cert` / `--key`: both `wms proxy` (delegation) and
// `wms task` (signing batches and controls) need the same files read and checked the same way.
import { readInputText } from "../platform/input-file.ts";
import { ERR, WmsError } from "../schemas/index.ts";

export interface CallerCredential {
  /** The certificate (or proxy) first, then the chain that issued it. */
  readonly certChain: string[];
  readonly keyPem: string;
}

/** Reads and sanity-checks the PEM files; a missing or empty file is one line naming the option. */
export async function readCredentialOptions(certPath: string, keyPath: string): Promise<CallerCredential> {
  const { splitPems } = await import("../security/index.ts");
  const certChain = splitPems(readInputText(certPath, ERR.BAD_INPUT, "--cert "));
  const keyPem = readInputText(keyPath, ERR.BAD_INPUT, "--key ");
  if (certChain.length === 0) throw new WmsError(ERR.BAD_INPUT, `--cert ${certPath} holds no PEM certificate`);
  if (!keyPem.includes("PRIVATE KEY")) throw new WmsError(ERR.BAD_INPUT, `--key ${keyPath} holds no PEM private key`);
  return { certChain, keyPem };
}
