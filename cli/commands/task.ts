import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerTask(program: Command): void {
  notBuilt(program, "task", "submit, watch, list, cancel and retry tasks", 5);
}
