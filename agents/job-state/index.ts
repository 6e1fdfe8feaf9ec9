// Public surface of agents/job-state/: the job-state agent and `startAgents` (all report agents in one process).
export { startAgents, AGENT_NAMES, type AgentName, type StartAgentsOptions, type AgentsHandle } from "./start-agents.ts";
export { applyStateReport, type JobDispatch, type JobStateDeps, type OutputCatalog, type StateOutcome } from "./job-state-agent.ts";
export { stateConsumer, errorConsumer, errorLog, ERROR_LOG_CAP } from "./job-state-consumers.ts";
export { decideFailure, describeCode, MAX_FREE_PREEMPTIONS, type FailureDecision } from "./retry-policy.ts";
export { dataLocalRebroker, sameSiteRebroker, type Rebroker } from "./job-rebroker.ts";
