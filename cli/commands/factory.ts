import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerFactory(program: Command): void {
  notBuilt(program, "factory", "run, tune and inspect the pilot factory", 6);
}
