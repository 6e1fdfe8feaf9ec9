import type { Command } from "commander";

/**
 * One module of commands: the top-level commands it registers, each with its one-line summary for
 * `wms --help`, and how to load it. Only the modules a command line names are loaded, so `wms
 * --help` and every single command start without importing the others (test/cli.unit.test.ts
 * checks each module registers exactly these commands with these summaries).
 */
export interface CommandGroup {
  readonly commands: ReadonlyArray<readonly [name: string, summary: string]>;
  load(): Promise<(program: Command) => void>;
}

/** The order `wms --help` lists them in: set-up, the language, security, work flow, operations. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    commands: [["init", "write a starter deployment folder: wms.yaml, sites, factory queues, sample data and its catalog, example tasks, a PKI; then run 'wms up' there"]],
    load: async () => (await import("./init.ts")).registerInit,
  },
  {
    commands: [
      ["up", "start the whole system on this machine from wms.yaml (made by 'wms init'): credential cache, intake, matchmakers, agents, monitor and a factory of local pilots, each a supervised process"],
      ["status", "what 'wms up' runs for this deployment: each process, its pid, state and restarts; the services and the monitor"],
      ["down", "stop what 'wms up --detach' runs for this deployment: factory, pilots, services, private servers; deletes its temporary folder"],
    ],
    load: async () => (await import("./up.ts")).registerUp,
  },
  {
    commands: [["services", "check the NATS, Redis and RabbitMQ services pilot-wms needs"]],
    load: async () => (await import("./services.ts")).registerServices,
  },
  {
    commands: [["errors", "the error-code registry: the whole table, or one code (number or name)"]],
    load: async () => (await import("./errors.ts")).registerErrors,
  },
  {
    commands: [["schemas", "the JSON Schema files of every wire message"]],
    load: async () => (await import("./schemas.ts")).registerSchemas,
  },
  {
    commands: [["classad", "evaluate ClassAd expressions and match ads (HTCondor's ClassAd language)"]],
    load: async () => (await import("./classad.ts")).registerClassad,
  },
  {
    commands: [["pki", "create the CA and issue user, pilot and service certificates (node-forge; VO, groups and roles in a CA-signed attribute extension)"]],
    load: async () => (await import("./pki.ts")).registerPki,
  },
  {
    commands: [["secrets", "identities per role on NATS, Redis and RabbitMQ, and the server files that enforce least privilege"]],
    load: async () => (await import("./secrets.ts")).registerSecrets,
  },
  {
    commands: [["proxy", "make RFC 3820 proxies, delegate them to the credential cache, show their info"]],
    load: async () => (await import("./proxy.ts")).registerProxy,
  },
  {
    commands: [["credentials", "the credential cache service (MyProxy's role)"]],
    load: async () => (await import("./credentials.ts")).registerCredentials,
  },
  {
    commands: [["site", "site authorization and account mapping (LCAS/LCMAPS/SCAS roles)"]],
    load: async () => (await import("./site.ts")).registerSite,
  },
  {
    commands: [["replica", "the replica catalog: datasets, their files (size, adler32, md5) and the sites holding each file"]],
    load: async () => (await import("./replica.ts")).registerReplica,
  },
  {
    commands: [["task", "submit signed task batches to the intake; watch, list, cancel and retry tasks"]],
    load: async () => (await import("./task.ts")).registerTask,
  },
  {
    commands: [["job", "jobs: list them by task, user, state, site or code; show one (spec, attempts, timings); print its logs"]],
    load: async () => (await import("./job.ts")).registerJob,
  },
  {
    commands: [["intake", "the intake service: accepts signed task batches, brokers their jobs to the sites holding the data, queues them"]],
    load: async () => (await import("./intake.ts")).registerIntake,
  },
  {
    commands: [["matchmaker", "run the matchmaker service: answers pilot adverts with signed jobs and extends locks on heartbeats, until Ctrl-C"]],
    load: async () => (await import("./matchmaker.ts")).registerMatchmaker,
  },
  {
    commands: [["pilot", "run a pilot on this worker node: advertise, run matched jobs, report, until work runs out or walltime runs short; 'pilot list' shows the pilots the factories know"]],
    load: async () => (await import("./pilot.ts")).registerPilot,
  },
  {
    commands: [["factory", "run, tune and inspect the pilot factory (keeps site queues supplied with identical pilots)"]],
    load: async () => (await import("./factory.ts")).registerFactory,
  },
  {
    commands: [["agents", "run the report agents (job-state, accounting, audit, logs) as RabbitMQ consumers until Ctrl-C"]],
    load: async () => (await import("./agents.ts")).registerAgents,
  },
  {
    commands: [["accounting", "usage per user, group, VO and site, as the accounting agent recorded it"]],
    load: async () => (await import("./accounting.ts")).registerAccounting,
  },
  {
    commands: [["monitor", "serve the read-only web dashboard, its JSON API and Prometheus metrics at /metrics"]],
    load: async () => (await import("./monitor.ts")).registerMonitor,
  },
  {
    commands: [["demo", "run a whole task through pilots to finished, with a summary, on private servers it starts with authentication on (--shared-services: the machine's own); cleans up after"]],
    load: async () => (await import("./demo.ts")).registerDemo,
  },
];
