// The grid-mapfile format LCMAPS reads: one `"DN" account[,account...]` per line, the DN quoted
// when it holds spaces, `#` comments. Pure: the mapper reads the file once and hands the text here.
import { ERR, WmsError } from "../schemas/index.ts";

const ACCOUNT = /^[a-z_][a-z0-9_-]*$/;

/** DN → the accounts listed for it; the first is the one mapped. */
export type Gridmap = ReadonlyMap<string, readonly string[]>;

export function parseGridmap(text: string, source = "grid-mapfile"): Gridmap {
  const map = new Map<string, string[]>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `${source}:${i + 1}`;
    let dn: string;
    let rest: string;
    if (line.startsWith('"')) {
      const close = line.indexOf('"', 1);
      if (close < 0) throw new WmsError(ERR.BAD_CONFIG, `${where}: the DN's closing quote is missing`);
      dn = line.slice(1, close);
      rest = line.slice(close + 1);
      if (rest !== "" && !/^\s/.test(rest)) throw new WmsError(ERR.BAD_CONFIG, `${where}: put a space between the quoted DN and the account`);
    } else {
      const m = /^(\S+)(.*)$/.exec(line) as RegExpExecArray;
      dn = m[1];
      rest = m[2];
    }
    if (!dn.startsWith("/")) throw new WmsError(ERR.BAD_CONFIG, `${where}: '${dn}' is not a DN in slash form (/DC=org/CN=...)`);
    const accountsText = rest.trim().replace(/#.*$/, "").trim();
    if (accountsText === "") throw new WmsError(ERR.BAD_CONFIG, `${where}: no account after the DN`);
    if (/\s/.test(accountsText)) throw new WmsError(ERR.BAD_CONFIG, `${where}: accounts are one comma-separated list with no spaces, got '${accountsText}'`);
    const accounts = accountsText.split(",");
    for (const a of accounts) {
      if (a.startsWith(".")) throw new WmsError(ERR.BAD_CONFIG, `${where}: pool prefix '${a}' is not supported here; use the site's pool mapping plug-in`);
      if (!ACCOUNT.test(a)) throw new WmsError(ERR.BAD_CONFIG, `${where}: '${a}' is not a valid local account name`);
    }
    const key = dn;
    if (map.has(key)) throw new WmsError(ERR.BAD_CONFIG, `${where}: DN ${dn} is listed twice`);
    map.set(key, accounts);
  });
  return map;
}
