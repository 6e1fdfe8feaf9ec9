import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerPilot(program: Command): void {
  notBuilt(program, "pilot", "run a pilot on this worker node", 6);
}
