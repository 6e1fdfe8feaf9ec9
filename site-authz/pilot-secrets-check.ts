// A switched payload must not read the pilot's credentials (its token and keys).
// They live in one directory owned by the pilot with mode 0700; before any switch we check that
// it still is, and that nothing in it is open to group or others.
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { ERR, WmsError } from "../schemas/index.ts";

const octal = (m: number): string => "0" + (m & 0o7777).toString(8);

export async function checkPilotSecrets(dir: string, o: { readonly pilotUid: number; readonly workdir: string }): Promise<void> {
  const abs = path.resolve(dir);
  const rel = path.relative(abs, path.resolve(o.workdir));
  if (rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))) {
    throw new WmsError(ERR.SWITCH_FAILED, `the job's working directory ${o.workdir} lies inside the pilot's secrets directory ${abs}; use another job directory`);
  }
  const check = async (p: string, top: boolean): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch (e) {
      throw new WmsError(ERR.SWITCH_FAILED, `pilot secrets ${p} cannot be checked (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (top && !st.isDirectory()) throw new WmsError(ERR.SWITCH_FAILED, `pilot secrets path ${p} is not a directory`);
    if (st.isSymbolicLink()) throw new WmsError(ERR.SWITCH_FAILED, `pilot secret ${p} is a symlink; keep the real files in ${abs}`);
    if (st.uid !== o.pilotUid) throw new WmsError(ERR.SWITCH_FAILED, `pilot secret ${p} is owned by uid ${st.uid}, not the pilot's ${o.pilotUid}; chown it`);
    if ((st.mode & 0o077) !== 0) {
      throw new WmsError(ERR.SWITCH_FAILED, `pilot secret ${p} has mode ${octal(st.mode)}: group or others could read it; chmod ${st.isDirectory() ? "700" : "600"} before switching identity`);
    }
    if (st.isDirectory()) for (const e of await readdir(p)) await check(path.join(p, e), false);
  };
  await check(abs, true);
}
