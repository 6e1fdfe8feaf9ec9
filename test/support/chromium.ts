// Finds a Chromium for the browser tests, so they run wherever one is installed and are skipped,
// with the reason, where none is. Order: WMS_CHROMIUM, CHROME_PATH, playwright's own downloaded
// browser (`npx playwright-core install chromium`), then chromium/google-chrome on the PATH.
import { existsSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export type ChromiumLookup = { found: true; executablePath: string } | { found: false; reason: string };

const ON_PATH = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLookup {
  for (const name of ["WMS_CHROMIUM", "CHROME_PATH"] as const) {
    const set = env[name];
    if (!set) continue;
    if (existsSync(set)) return { found: true, executablePath: set };
    return { found: false, reason: `${name}=${set} does not exist` };
  }
  try {
    const downloaded = chromium.executablePath();
    if (downloaded && existsSync(downloaded)) return { found: true, executablePath: downloaded };
  } catch {
    // playwright knows no browser build for this platform; look on the PATH
  }
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    for (const name of ON_PATH) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return { found: true, executablePath: candidate };
    }
  }
  return { found: false, reason: "no Chromium found: set WMS_CHROMIUM (or CHROME_PATH) to one, or install Debian's chromium package" };
}

/** The flags a headless Chromium needs in a container or CI runner (no sandbox, no background traffic). */
export const HEADLESS_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
