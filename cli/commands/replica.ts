import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerReplica(program: Command): void {
  notBuilt(program, "replica", "the replica catalog: datasets, files and the sites holding them", 5);
}
