import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerIntake(program: Command): void {
  notBuilt(program, "intake", "run the intake service that accepts signed task batches", 5);
}
