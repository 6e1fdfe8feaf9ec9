import type { Command } from "commander";
import { notBuilt } from "../command-kit.ts";

export function registerMatchmaker(program: Command): void {
  notBuilt(program, "matchmaker", "run the matchmaker service that answers pilot adverts", 5);
}
