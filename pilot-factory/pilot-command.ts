// The command line a factory starts a pilot with, in one small function so the pilot's CLI can
// change without touching the adapters. Pure: the caller supplies paths and the service URLs.

/** Everything one pilot is started with. */
export interface PilotLaunch {
  readonly pilotId: string;
  readonly site: string;
  readonly queue: string;
  readonly factoryId: string;
  /** The pilot token: never in argv (any local user reads argv in `ps`). */
  readonly token: string;
  /**
   * Where the adapter wrote the token (0600): the pilot reads and deletes it at start and keeps the
   * token in memory only. Preferred to the environment, which stays readable for the pilot's life in
   * /proc/<pid>/environ (to its own uid, so to a payload at a site without identity switching) and
   * which batch systems show to their users (`condor_q -l`). Without it the token goes in
   * WMS_PILOT_TOKEN.
   */
  readonly tokenFile?: string;
  readonly lifetimeSec: number;
  readonly maxEmpty: number;
  /** The queue's census interval: the pilot repeats its census this often. */
  readonly censusSec?: number;
}

/** Where and how the factory runs `wms`, and what the pilots must connect to. */
export interface PilotRuntime {
  /** The node binary (process.execPath in the factory). */
  readonly nodePath: string;
  /** bin/wms.mjs. */
  readonly wmsBin: string;
  readonly namespace: string;
  /** wms.yaml the pilots load, if the factory was given one. */
  readonly configPath?: string;
  /**
   * Service URLs as WMS_* variables, so a factory configured by environment starts pilots that agree.
   * URLs may hold passwords: env, not argv. No Redis URL on a Redis Cluster: the pilots read
   * `redis.cluster` from the config file (a WMS_REDIS_URL would replace it with one server).
   */
  readonly serviceUrls: { readonly nats: string; readonly redis?: string; readonly rabbitmq: string };
  /** Pilots' work dir base, if not their default. */
  readonly pilotWorkdir?: string;
  /**
   * The pilots' own transport identity (`wms secrets init`'s pilot/identity.yaml: publish-only
   * NATS and RabbitMQ users, no Redis). Pilots never run as the factory's identity.
   */
  readonly identityFile?: string;
}

/**
 * Every credential variable a factory may hold for itself: blanked in the pilot's environment, so
 * a batch system or local adapter that passes the factory's environment on does not hand the
 * factory's (or any service's) secrets to pilots and their payloads.
 */
const SERVICE_SECRET_VARIABLES = [
  "WMS_IDENTITY_FILE",
  "WMS_NATS_USER",
  "WMS_NATS_PASSWORD",
  "WMS_NATS_PASSWORD_FILE",
  "WMS_NATS_NKEY_SEED_FILE",
  "WMS_NATS_CREDS_FILE",
  "WMS_REDIS_USERNAME",
  "WMS_REDIS_PASSWORD",
  "WMS_REDIS_PASSWORD_FILE",
  "WMS_RABBITMQ_USERNAME",
  "WMS_RABBITMQ_PASSWORD",
  "WMS_RABBITMQ_PASSWORD_FILE",
  "WMS_CREDENTIAL_KEY",
  "WMS_CREDENTIAL_KEY_FILE",
  "WMS_CREDENTIAL_KEYRING",
] as const;

export interface PilotCommandLine {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the pilot's environment; holds WMS_PILOT_TOKEN only when the launch has no tokenFile. */
  readonly env: Readonly<Record<string, string>>;
}

export type PilotCommandBuilder = (launch: PilotLaunch, runtime: PilotRuntime) => PilotCommandLine;

/** `node bin/wms.mjs [--config F] --namespace NS pilot --site S --pilot-id P --queue Q --factory-id F --walltime SEC --max-empty N [--census-sec S]`. */
export const pilotCommand: PilotCommandBuilder = (launch, runtime) => {
  const globals = [...(runtime.configPath ? ["--config", runtime.configPath] : []), "--namespace", runtime.namespace];
  const args = [
    runtime.wmsBin,
    ...globals,
    "pilot",
    "--site",
    launch.site,
    "--pilot-id",
    launch.pilotId,
    "--queue",
    launch.queue,
    "--factory-id",
    launch.factoryId,
    "--walltime",
    String(launch.lifetimeSec),
    "--max-empty",
    String(launch.maxEmpty),
    ...(launch.censusSec !== undefined ? ["--census-sec", String(launch.censusSec)] : []),
    ...(runtime.pilotWorkdir ? ["--work-dir", runtime.pilotWorkdir] : []),
    ...(launch.tokenFile !== undefined ? ["--token-file", launch.tokenFile] : []),
  ];
  return {
    command: runtime.nodePath,
    args,
    env: {
      ...Object.fromEntries(SERVICE_SECRET_VARIABLES.map((v) => [v, ""])),
      ...(runtime.identityFile !== undefined ? { WMS_IDENTITY_FILE: runtime.identityFile } : {}),
      ...(launch.tokenFile === undefined ? { WMS_PILOT_TOKEN: launch.token } : {}),
      WMS_NAMESPACE: runtime.namespace,
      WMS_NATS_URL: runtime.serviceUrls.nats,
      // Empty is "not set": nothing inherited overrides the config file's cluster.
      WMS_REDIS_URL: runtime.serviceUrls.redis ?? "",
      WMS_RABBITMQ_URL: runtime.serviceUrls.rabbitmq,
    },
  };
};
