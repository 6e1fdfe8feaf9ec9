import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerDemo(program: Command): void {
  notBuilt(program, "demo", "run a whole task through pilots to finished, with a summary", 7);
}
