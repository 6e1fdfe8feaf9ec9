import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerClassad(program: Command): void {
  notBuilt(program, "classad", "evaluate ClassAd expressions and match ads", 3);
}
