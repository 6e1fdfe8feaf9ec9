// Resolves a mapped account name to its uid, gid and home through the system's user database
// (`getent passwd`, so LDAP/SSSD accounts work as well as /etc/passwd).
import { execFileSync } from "node:child_process";
import { ERR, WmsError } from "../schemas/index.ts";

export interface LocalAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export function resolveAccount(name: string): LocalAccount {
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) throw new WmsError(ERR.SWITCH_FAILED, `'${name}' is not a valid local account name`);
  let line: string;
  try {
    line = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim().split("\n")[0];
  } catch {
    throw new WmsError(ERR.SWITCH_FAILED, `local account '${name}' does not exist on this node; the site admin must create it (useradd) or fix the mapping`);
  }
  const f = line.split(":");
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (f.length < 7 || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new WmsError(ERR.SWITCH_FAILED, `the passwd entry of '${name}' is malformed`);
  return { name, uid, gid, home: f[5] };
}
