// An HTCondor submit description for N pilots of one queue, as text. Pure, so tests parse it back.
// One description queues every pilot of the cycle (`queue PilotId,PilotToken from (...)`): each
// pilot still gets its own id and token, and the batch system sees one cluster per cycle.
import type { FactoryQueue } from "../../schemas/index.ts";
import type { PilotCommandBuilder, PilotLaunch, PilotRuntime } from "../pilot-command.ts";

export interface CondorDescriptionInput {
  readonly factoryId: string;
  readonly queue: FactoryQueue;
  readonly pilots: readonly PilotLaunch[];
  readonly runtime: PilotRuntime;
  readonly pilotCommand: PilotCommandBuilder;
  /** Folder for the pilots' stdout/stderr and the cluster's user log. */
  readonly logDir: string;
  readonly cpusPerPilot?: number;
}

/**
 * HTCondor's "new" argument/environment syntax: the whole value in double quotes, items separated
 * by spaces, an item holding spaces or quotes wrapped in single quotes with ' doubled; " is doubled.
 */
export function condorQuoteList(items: readonly string[]): string {
  const quoted = items.map((item) => {
    const inner = item.replace(/"/g, '""');
    return /[\s']/.test(item) || item === "" ? `'${inner.replace(/'/g, "''")}'` : inner;
  });
  return `"${quoted.join(" ")}"`;
}

const PER_PILOT_ID = "$(PilotId)";
/** The token file's name in the job's scratch folder, where HTCondor's file transfer puts it. */
const PER_PILOT_TOKEN_FILE = "$(PilotId).token";

export function condorSubmitDescription(input: CondorDescriptionInput): string {
  const { queue, pilots } = input;
  if (pilots.length === 0) throw new Error("condorSubmitDescription: no pilots");
  // The builder is called once with HTCondor macros in place of the per-pilot values, so the
  // command line stays the pilot engineer's and the queue statement fills in each pilot.
  const template = input.pilotCommand(
    { pilotId: PER_PILOT_ID, token: "", tokenFile: PER_PILOT_TOKEN_FILE, site: queue.site, queue: queue.name, factoryId: input.factoryId, lifetimeSec: queue.pilotLifetimeSec, maxEmpty: queue.emptyAdvertsLimit, censusSec: pilots[0].censusSec },
    input.runtime,
  );
  const env = Object.entries(template.env).map(([k, v]) => `${k}=${v}`);
  const lines = [
    `# pilot-wms factory ${input.factoryId}, queue ${queue.name}: ${pilots.length} pilot(s)`,
    // Never in the job's environment (condor_q -l shows it to every user of the pool) nor in its
    // arguments (ps): each pilot's token is a 0600 file the factory wrote, transferred into the
    // job's scratch folder, read and deleted by the pilot at start.
    "# Each pilot's token is a file transferred with the job (see transfer_input_files), never in its environment or arguments.",
    "universe = vanilla",
    `executable = ${template.command}`,
    "transfer_executable = false",
    `arguments = ${condorQuoteList(template.args)}`,
    `environment = ${condorQuoteList(env)}`,
    `output = ${input.logDir}/${PER_PILOT_ID}.out`,
    `error = ${input.logDir}/${PER_PILOT_ID}.err`,
    "should_transfer_files = YES",
    "when_to_transfer_output = ON_EXIT",
    `transfer_input_files = ${input.logDir}/${PER_PILOT_TOKEN_FILE}`,
    `log = ${input.logDir}/condor.log`,
    `request_cpus = ${input.cpusPerPilot ?? 1}`,
    // A pilot past twice its lifetime is lost, not slow: the batch system removes it (its token has expired too).
    `periodic_remove = (JobStatus == 2) && ((time() - EnteredCurrentStatus) > ${queue.pilotLifetimeSec * 2})`,
    `+WmsFactory = "${input.factoryId}"`,
    `+WmsQueue = "${queue.name}"`,
    `+WmsPilotId = "${PER_PILOT_ID}"`,
    "queue PilotId from (",
    ...pilots.map((p) => `  ${p.pilotId}`),
    ")",
    "",
  ];
  return lines.join("\n");
}
