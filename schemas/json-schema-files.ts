import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL_MESSAGES } from "./registry.ts";

export const JSON_DIR = join(fileURLToPath(new URL(".", import.meta.url)), "json");

/** The exact text each exported file must hold; a test compares, `npm run schemas` writes. */
export function renderJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of ALL_MESSAGES) {
    const doc = { $schema: "https://json-schema.org/draft/2020-12/schema", title: m.name, ...m.schema };
    out.set(`${m.name}.schema.json`, JSON.stringify(doc, null, 2) + "\n");
  }
  return out;
}

export async function writeJsonSchemas(dir = JSON_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, text] of renderJsonSchemas()) {
    await writeFile(join(dir, file), text);
    written.push(join(dir, file));
  }
  return written;
}

export async function staleJsonSchemas(dir = JSON_DIR): Promise<string[]> {
  const stale: string[] = [];
  for (const [file, text] of renderJsonSchemas()) {
    const current = await readFile(join(dir, file), "utf8").catch(() => "");
    if (current !== text) stale.push(file);
  }
  return stale;
}
