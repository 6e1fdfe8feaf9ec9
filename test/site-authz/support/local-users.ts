// Local accounts the tests create (we run as root) and remove afterwards. useradd/userdel take a
// lock on /etc/passwd, so parallel test files retry briefly instead of failing.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

function withRetry(cmd: string, args: string[]): void {
  for (let i = 0; ; i++) {
    try {
      execFileSync(cmd, args, { stdio: "pipe" });
      return;
    } catch (e) {
      if (i >= 20) throw e;
      execFileSync("sleep", ["0.2"]);
    }
  }
}

export function createUser(prefix: string): { name: string; uid: number; gid: number } {
  const name = `${prefix}${randomBytes(4).toString("hex")}`;
  withRetry("useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", name]);
  const id = (flag: string): number => Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return { name, uid: id("-u"), gid: id("-g") };
}

export function removeUser(name: string): void {
  try {
    withRetry("userdel", [name]);
  } catch {
    // already gone
  }
}
