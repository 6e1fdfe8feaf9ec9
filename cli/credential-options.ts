// The caller's grid credential from `--cert` / `--key`: both `wms proxy` (delegation) and
// `wms task` (signing batches and controls) need the same files read and checked the same way.
import { existsSync } from "node:fs";
import path from "node:path";
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

/**
 * `--cert` / `--key` as given, or else the role's certificate that `wms init` writes into the PKI
 * folder (`users/<role>.cert.pem`, `users/<role>.key.pem`), as `wms factory set` takes the
 * operator's: in a deployment folder a production manager types `wms task retry T1` and nothing
 * more. Elsewhere (a PKI folder without users/) both options are needed, and saying so is a usage
 * error, as commander's own "required option" was.
 */
export function credentialFiles(given: { cert?: string; key?: string }, pkiDir: string, role: string): { cert: string; key: string } {
  if (given.cert !== undefined && given.key !== undefined) return { cert: given.cert, key: given.key };
  if (given.cert !== undefined || given.key !== undefined) throw new WmsError(ERR.USAGE, `give --cert and --key together (only ${given.cert !== undefined ? "--cert" : "--key"} was given)`);
  const cert = path.join(pkiDir, "users", `${role}.cert.pem`);
  const key = path.join(pkiDir, "users", `${role}.key.pem`);
  if (!existsSync(cert) || !existsSync(key)) {
    throw new WmsError(ERR.USAGE, `give --cert and --key: your certificate and its key (the PKI folder ${pkiDir} holds no users/${role}.cert.pem and users/${role}.key.pem, which 'wms init' writes)`);
  }
  return { cert, key };
}
