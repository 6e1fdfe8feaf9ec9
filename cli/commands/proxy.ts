import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerProxy(program: Command): void {
  notBuilt(program, "proxy", "make RFC 3820 proxies, delegate them to the credential cache, show their info", 4);
}
