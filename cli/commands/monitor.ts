import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerMonitor(program: Command): void {
  notBuilt(program, "monitor", "serve the web dashboard and Prometheus metrics", 8);
}
