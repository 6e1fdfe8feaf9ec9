// Public surface of pilot-factory/: the rate policy (pure), the adapters, the census and status
// stores, live tuning, and the factory service.
export {
  decideSubmission,
  wantedPilots,
  queuedPilotCap,
  DEFAULT_QUEUED_PER_JOB,
  bucketCapacity,
  initialBucket,
  refillBucket,
  type QueueObservation,
  type RateBucket,
  type RateKnobs,
  type PolicyKnobs,
  type SubmissionDecision,
  type SubmissionReason,
} from "./submission-policy.ts";
export { pilotCommand, type PilotCommandBuilder, type PilotCommandLine, type PilotLaunch, type PilotRuntime } from "./pilot-command.ts";
export { TUNABLE_KNOBS, parseKnobAssignments, applyKnobChanges, parseKnobChanges } from "./knob-changes.ts";
export type { SubmitAdapter, SubmitContext, SubmitOutcome, BatchState, BatchQueryContext } from "./adapters/submit-adapter.ts";
export { LocalAdapter, localBatchId, localProcessState, type LocalAdapterOptions, type LocalPilotProcess } from "./adapters/local-adapter.ts";
export { CondorAdapter, parseCondorQ, type BatchAdapterOptions } from "./adapters/condor-adapter.ts";
export { SlurmAdapter, parseSqueue } from "./adapters/slurm-adapter.ts";
export { condorSubmitDescription, condorQuoteList, type CondorDescriptionInput } from "./adapters/condor-submit-description.ts";
export { slurmBatchScript, slurmTime, shellQuote, type SlurmScript, type SlurmScriptInput } from "./adapters/slurm-batch-script.ts";
export { findExecutable } from "./adapters/executable-lookup.ts";
export { PILOT_INHERITED_ENV, pilotBaseEnv } from "./adapters/pilot-base-env.ts";
export { PilotCensusStore, censusTransitionKeys, listPilots, type QueueCensus, type CensusOutcome, type LivePilot, type PilotRow, type ProofHash } from "./pilot-census-store.ts";
export { breakerAdmits, breakerAfterCycle, CLOSED_BREAKER, type BreakerEvents, type BreakerKnobs, type BreakerPhase, type BreakerReason, type BreakerState } from "./circuit-breaker.ts";
export { QUEUE_DEFAULTS, resolveQueue, type ResolvedQueue } from "./queue-defaults.ts";
export { activatedJobsReader, type ActivatedJobsReader, type ActivatedJobsSource } from "./activated-jobs.ts";
export { writeQueueStatus, readFactoryStatus, knownFactories, pilotCountsBySite, type StatusReadResult, type PilotCountRow } from "./factory-status-store.ts";
export { saveSignedControl, loadKnobChanges, requestKnobChanges, controlTarget, type PersistedKnobs } from "./knob-store.ts";
export { factoryKeys, type FactoryKeys, type QueueKeys } from "./factory-keys.ts";
export { startFactory, type FactoryOptions, type RunningFactory, type CycleReport, type PilotTokenMinter, type FactoryControlGate } from "./factory.ts";
export { checkFactoryConfig } from "./factory-config-check.ts";
export { editFactoryFile, type QueueKnobValues } from "./factory-file-edit.ts";
