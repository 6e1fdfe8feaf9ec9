// Public surface of agents/pilot/. The demo and the CLI start pilots through runPilot.
export { runPilot, type PilotOptions, type PilotSummary, type PilotExitReason } from "./pilot.ts";
export { runMatchedJob, payloadFailure, type JobRunDeps, type JobResult } from "./job-run.ts";
export { buildMachineAd, PILOT_REQUIREMENTS, type NodeFacts } from "./machine-ad.ts";
export { probeNode, probeWalltime } from "./node-probe.ts";
export { walltimeDeadline, walltimeLeftSec, UNBOUNDED_WALLTIME_SEC, type WalltimeDeadline, type WalltimeSource } from "./walltime-left.ts";
export { stageIn, type StagedFile } from "./stage-in.ts";
export { stageOut, OUTPUTS_DIR, type StagedOutput } from "./stage-out.ts";
export { supervise, type PayloadOutcome, type SupervisedPayload } from "./payload-supervisor.ts";
export { directLauncher, PROXY_FILE, type LaunchRequest, type LaunchedPayload, type PayloadLauncher } from "./payload-launcher.ts";
export { chooseLauncher } from "./launcher-policy.ts";
export { containPayload, PAYLOAD_MARK_VARIABLE, type PayloadContainment } from "./payload-containment.ts";
export { identitySwitchLauncher, type IdentitySwitchOptions } from "./identity-switch-launcher.ts";
export { runPilotProcess, type PilotProcessOptions } from "./pilot-process.ts";
export { loadSiteEntry } from "./site-entry.ts";
export { natsCensus } from "./census-publisher.ts";
export type { CensusSink, CensusSnapshot, CredentialRequest, CredentialSource, PilotCensusState, ReportSink, RetrievedProxy } from "./pilot-ports.ts";
export { PILOT_PID_FILE } from "./stale-pilot-sweep.ts";
