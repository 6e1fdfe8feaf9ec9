// Public surface of matchmaker/: the intake side (replica catalog, brokerage, intake service) and the
// matchmaker side (dispatch queues, autoclusters, match cache, matchmaker service).
export { AutoclusterIndexCache, type AutoclusterIndexSource } from "./autocluster-index.ts";
export { MatchCache, type MatchDecision, type MatchCacheOptions } from "./match-cache.ts";
export { orderCandidates, type RankedCandidate } from "./match-ranking.ts";
export { FairShareUsage } from "./match-fair-share.ts";
export { startMatchmaker, type MatchmakerOptions, type MatchmakerHandle, type EnvelopeSigner } from "./matchmaker-service.ts";
// intake side
export { ReplicaCatalogStore, type CatalogEntry, type DatasetFile, type LoadSummary } from "./replica-catalog.ts";
export { SiteRegistry, loadSiteConfig } from "./site-registry.ts";
export { releaseFiles, fileId, type ReleasedInput, type ReleaseState, type ReleaseDecision } from "./input-release.ts";
export { OpenTaskPlanner, openTaskProgress, type OpenTaskProgress, type PlanOutcome } from "./open-task-planner.ts";
export { planTask, planGroups, splitIntoJobs, checkClassAds, rebrokerJob, SitePicker, jobIdFor, NO_SITE, type SiteLoad, type BrokerageInput, type BrokeragePlan, type FileGroup } from "./brokerage.ts";
export { authorizeSubmit, authorizeTaskControl, PRODUCTION_ROLE, type IntakeIdentity } from "./intake-authz.ts";
export { startIntake, type IntakeOptions, type IntakeService } from "./intake-service.ts";
export { type TaskDispatch } from "./intake-context.ts";
export { siteLoads } from "./site-loads.ts";
export { TaskClient, errorFromReply } from "./task-client.ts";
export { newTaskControl, signTaskControl, verifyTaskControl } from "./task-control.ts";
