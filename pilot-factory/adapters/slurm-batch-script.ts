// A Slurm batch script for one pilot, as text. Pure, so tests parse it back. The token is not in
// the script (Slurm keeps scripts where admins read them): the launch names a token file, or else
// sbatch runs with WMS_PILOT_TOKEN in its environment; `--export` names the variables the job inherits.
import type { FactoryQueue } from "../../schemas/index.ts";
import type { PilotCommandBuilder, PilotLaunch, PilotRuntime } from "../pilot-command.ts";

export interface SlurmScriptInput {
  readonly factoryId: string;
  readonly queue: FactoryQueue;
  readonly pilot: PilotLaunch;
  readonly runtime: PilotRuntime;
  readonly pilotCommand: PilotCommandBuilder;
  readonly logDir: string;
  readonly cpusPerPilot?: number;
  /** Variables of the submitting environment the job keeps besides the pilot's own (PATH, HOME, ...). */
  readonly inheritEnv?: readonly string[];
}

/** `--time` in Slurm's `D-HH:MM:SS` form (`HH:MM:SS` under a day). */
export function slurmTime(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  const days = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return days > 0 ? `${days}-${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}

/** POSIX shell single quotes: nothing inside is special but the quote itself. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

export interface SlurmScript {
  readonly text: string;
  /** The environment sbatch must be run with (the token only when the launch has no token file). */
  readonly submitEnv: Readonly<Record<string, string>>;
}

export function slurmBatchScript(input: SlurmScriptInput): SlurmScript {
  const { queue, pilot } = input;
  const cmd = input.pilotCommand(pilot, input.runtime);
  const exported = [...new Set([...(input.inheritEnv ?? []), ...Object.keys(cmd.env)])];
  const lines = [
    "#!/bin/sh",
    `#SBATCH --job-name=${shellQuote(`wms-pilot-${queue.name}`)}`,
    `#SBATCH --output=${shellQuote(`${input.logDir}/${pilot.pilotId}.out`)}`,
    `#SBATCH --error=${shellQuote(`${input.logDir}/${pilot.pilotId}.err`)}`,
    `#SBATCH --time=${slurmTime(queue.pilotLifetimeSec)}`,
    `#SBATCH --cpus-per-task=${input.cpusPerPilot ?? 1}`,
    `#SBATCH --ntasks=1`,
    `#SBATCH --export=${exported.join(",")}`,
    `#SBATCH --comment=${shellQuote(`wms factory=${input.factoryId} queue=${queue.name} pilot=${pilot.pilotId}`)}`,
    `# pilot-wms factory ${input.factoryId}, queue ${queue.name}, pilot ${pilot.pilotId}${pilot.tokenFile !== undefined ? "; its token is the file named by --token-file" : "; WMS_PILOT_TOKEN comes from sbatch's environment"}.`,
    `exec ${[cmd.command, ...cmd.args].map(shellQuote).join(" ")}`,
    "",
  ];
  return { text: lines.join("\n"), submitEnv: cmd.env };
}
