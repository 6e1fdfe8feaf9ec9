import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerSite(program: Command): void {
  notBuilt(program, "site", "site authorization and account mapping (LCAS/LCMAPS/SCAS roles)", 9);
}
