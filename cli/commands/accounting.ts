import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerAccounting(program: Command): void {
  notBuilt(program, "accounting", "usage per user, group and site", 7);
}
