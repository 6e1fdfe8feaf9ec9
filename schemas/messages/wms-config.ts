import { Type, type Static } from "@sinclair/typebox";
import { defineMessage } from "../message.ts";
import { SiteName } from "./common.ts";

/** Client-side TLS: files in PEM. Each transport takes the same three. */
const tlsFiles = Type.Object(
  {
    ca: Type.Optional(Type.String({ description: "CA bundle the server's certificate must chain to" })),
    cert: Type.Optional(Type.String({ description: "Client certificate, where the server asks for one" })),
    key: Type.Optional(Type.String({ description: "Its private key" })),
  },
  { additionalProperties: false },
);

/** A password given inline or, better, as a file (Docker/Kubernetes secrets); never both. */
function secretFields(who: string) {
  return {
    password: Type.Optional(Type.String({ minLength: 1, description: `Password of the ${who}; prefer passwordFile` })),
    passwordFile: Type.Optional(Type.String({ description: `File holding the password of the ${who} (trailing newline ignored)` })),
  };
}

/** pki.dir when wms.yaml does not set it; relative to the folder of wms.yaml (to the working directory without one). */
export const DEFAULT_PKI_DIR = ".wms/pki";

/** `wms.yaml`: the one typed config object, loaded and validated at start and passed down. */
export const WmsConfigSchema = Type.Object(
  {
    namespace: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$", default: "wms" }),
    nats: Type.Object(
      {
        url: Type.String({ default: "nats://127.0.0.1:4222", description: "One server or a comma-separated list (a cluster): nats://a:4222,nats://b:4222; tls:// requires TLS" }),
        user: Type.Optional(Type.String({ minLength: 1 })),
        ...secretFields("NATS user"),
        nkeySeedFile: Type.Optional(Type.String({ description: "File holding this identity's NKey seed (SU...), as `wms secrets init` writes it" })),
        credsFile: Type.Optional(Type.String({ description: "A NATS .creds file (user JWT and NKey seed) for deployments with decentralised JWT auth" })),
        // Under _INBOX.: services answer only into an inbox (platform/request-reply-service.ts
        // isInboxReply), so requests from any other prefix would wait for replies never sent.
        inboxPrefix: Type.Optional(Type.String({ pattern: "^_INBOX(\\.[A-Za-z0-9_-]+)*$", description: "Reply subjects of this identity's requests, under _INBOX. (the only replies services send); the server lets only it subscribe there" })),
        tls: Type.Optional(tlsFiles),
      },
      { default: {}, additionalProperties: false },
    ),
    redis: Type.Object(
      {
        url: Type.String({ default: "redis://127.0.0.1:6379", description: "A single server (rediss:// for TLS); ignored when cluster.nodes is set" }),
        cluster: Type.Optional(
          Type.Object(
            {
              nodes: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "Seed nodes, redis://host:port or host:port" }),
              claimReplicaWaitMs: Type.Integer({
                minimum: 0,
                default: 500,
                description: "Before a claimed job is handed out, wait up to this long for a replica of each master the claim wrote to (WAIT 1), so a master that dies right after cannot take the claim with it and have the job handed out twice; 0 = no wait",
              }),
            },
            { additionalProperties: false },
          ),
        ),
        username: Type.Optional(Type.String({ minLength: 1, description: "Redis ACL user" })),
        ...secretFields("Redis ACL user"),
        tls: Type.Optional(tlsFiles),
      },
      { default: {}, additionalProperties: false },
    ),
    rabbitmq: Type.Object(
      {
        url: Type.String({ default: "amqp://guest:guest@127.0.0.1:5672", description: "One URL or a comma-separated list tried in order (failover); amqps:// for TLS" }),
        username: Type.Optional(Type.String({ minLength: 1 })),
        ...secretFields("RabbitMQ user"),
        vhost: Type.Optional(Type.String({ minLength: 1, description: "Virtual host (default: the URL's, else /)" })),
        declareTopology: Type.Boolean({
          default: true,
          description: "Declare the reports exchange and queues on connect; false for identities without configure permission (pilots), which then only check they exist",
        }),
        tls: Type.Optional(tlsFiles),
      },
      { default: {}, additionalProperties: false },
    ),
    identityFile: Type.Optional(
      Type.String({ description: "A role's identity written by `wms secrets init` (its NATS, Redis and RabbitMQ credentials), merged into nats/redis/rabbitmq" }),
    ),
    pki: Type.Object(
      {
        dir: Type.String({ default: DEFAULT_PKI_DIR, description: "Folder made by `wms pki init`" }),
        jobSpecSealKeysFile: Type.Optional(
          Type.String({ description: "The job-spec seal's HMAC keys (intake and matchmaker only; default DIR/seals/job-spec.keys); WMS_JOB_SPEC_SEAL_KEYS_FILE" }),
        ),
        oneTimeKeySealKeysFile: Type.Optional(
          Type.String({ description: "The one-time-key seal's HMAC keys (matchmaker and credential cache only; default DIR/seals/one-time-key.keys); WMS_ONE_TIME_KEY_SEAL_KEYS_FILE" }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    pilot: Type.Object(
      {
        cert: Type.Optional(Type.String({ description: "Pilot certificate (kind pilot, role pilot) the credential cache authenticates pilots by" })),
        key: Type.Optional(Type.String({ description: "Its key; the pilot copies both into its private directory" })),
        identityFile: Type.Optional(
          Type.String({ description: "The pilots' transport identity (`wms secrets init`'s pilot/identity.yaml); the factory starts pilots with it, never with its own" }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    credentials: Type.Object(
      {
        encryptionKey: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9+/=]{43,44}$", description: "base64 of 32 bytes; AES-256-GCM key for proxies at rest" })),
        keyringFile: Type.Optional(
          Type.String({ description: "Keyring of credential-sealing keys (`wms credentials rotate-key` writes it, mode 0600); its current key seals, all of them open, and encryptionKey still opens what it sealed" }),
        ),
        oneTimeKeyTtlSec: Type.Integer({ minimum: 1, default: 600 }),
        retrievedLifetimeSec: Type.Integer({
          minimum: 60,
          default: 86400,
          description: "Longest life of a proxy the cache signs for a retrieval or renewal; it is also capped by the job's walltime (plus 10 min) and by the stored proxy",
        }),
        proxyKeyBits: Type.Integer({ minimum: 1024, maximum: 8192, default: 2048, description: "RSA size of the key pairs made for delegated proxies: the cache's at delegation, a pilot's at retrieval" }),
        maxRenewals: Type.Integer({ minimum: 0, default: 5 }),
      },
      { default: {}, additionalProperties: false },
    ),
    // A job's lease and its timeouts (jobs/README.md). The defaults scale: at a 60 s heartbeat,
    // 300,000 running jobs are 5,000 lease renewals a second, which one Redis absorbs; a lease of five
    // heartbeats rides out a matchmaker restart or a NATS blip without requeueing live work, and a
    // lost pilot's job is back in its queue within minutes. PanDA's pilots heartbeat every ~30 min,
    // with hours of grace, because its server is a database; ours renews a Redis lock, so it can
    // afford to notice a lost pilot sooner. Holding waits hours, like PanDA's: a report in a pilot's
    // disk spool during a broker outage is late, not lost.
    jobs: Type.Object(
      {
        heartbeatSec: Type.Number({ minimum: 0.05, default: 60, description: "How often a pilot renews its job's lease, from claim until its final report is out" }),
        leaseSec: Type.Number({ minimum: 0.2, default: 300, description: "How long a lease lives without a heartbeat; then a job in sent/starting/running is requeued as a new attempt" }),
        leaseCheckSec: Type.Number({ minimum: 0.1, default: 30, description: "How often expired leases are looked for; a lost pilot's job is requeued within leaseSec + 2 x this" }),
        reconcileSec: Type.Number({ minimum: 0, default: 60, description: "How often each matchmaker checks counters and queue entries against the job records and repairs drift (0 = never)" }),
        holdingTimeoutSec: Type.Number({ minimum: 1, default: 21600, description: "How long a job whose payload ended (holding) waits for its final report before it fails with JOB_HOLDING_TIMEOUT" }),
      },
      { default: {}, additionalProperties: false },
    ),
    matchmaker: Type.Object(
      {
        envelopeTtlSec: Type.Integer({ minimum: 1, default: 300 }),
        nomatchBackoffSec: Type.Number({ minimum: 0, default: 10 }),
        matchBudgetMs: Type.Number({ minimum: 1, default: 100, description: "CPU time one advert's whole match may take (all Requirements, Ranks and regexps); over it the advert is refused (1506)" }),
        matchBudgetSteps: Type.Integer({ minimum: 1000, default: 2_000_000, description: "Evaluation steps (attribute references, list elements) one advert's whole match may take" }),
        maxAdvertsInFlight: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 256,
          description:
            "Adverts one matchmaker answers at once; the rest wait undelivered in arrival order, and one that waited longer than a pilot waits for its answer is dropped unanswered. Heartbeats are not counted. Room for the backlog of a short stall to be answered in one or two batched waves (64 slowed that recovery in the bench), while an overload's heap stays bounded",
        }),
        sites: Type.Array(SiteName, {
          default: [],
          maxItems: 10_000,
          description: "Sites whose adverts and heartbeats this matchmaker takes, on their per-site subjects; empty: every site. Matchmakers share one queue group, so each message is answered once however the sites are split",
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    quotas: Type.Object(
      {
        users: Type.Record(Type.String(), Type.Number({ minimum: 0 }), { default: {}, description: "DN → wall-clock hours allowed" }),
        groups: Type.Record(Type.String(), Type.Number({ minimum: 0 }), { default: {} }),
      },
      { default: {}, additionalProperties: false },
    ),
    up: Type.Object(
      {
        matchmakers: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: "`wms up`: matchmaker processes side by side" }),
        monitorPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: "`wms up`: the monitor's HTTP port on loopback (0: any free port)" }),
        matchmakerMetricsPort: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 0,
          description: "`wms up`: the first matchmaker's Prometheus /metrics port on loopback, the next one's +1, and so on (0: no metrics endpoint)",
        }),
        delegate: Type.Array(
          Type.Object(
            {
              cert: Type.String({ description: "A user's certificate (PEM)" }),
              key: Type.String({ description: "Its key" }),
              lifetimeHours: Type.Number({ minimum: 1, default: 24 }),
            },
            { additionalProperties: false },
          ),
          { default: [], description: "`wms up`: users whose proxies are delegated to the credential cache (retrievable by pilots) once it answers, as `wms proxy init` does" },
        ),
        catalogs: Type.Array(Type.String(), { default: [], description: "`wms up`: replica catalog files (ReplicaCatalog YAML/JSON) loaded once the services answer, as `wms replica load` does" }),
      },
      { default: {}, additionalProperties: false },
    ),
    sitesFile: Type.Optional(Type.String({ description: "SiteConfig YAML/JSON file" })),
    factoryFile: Type.Optional(Type.String({ description: "FactoryConfig YAML/JSON file" })),
    logLevel: Type.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)), { default: "info" }),
  },
  { additionalProperties: false, $id: "WmsConfig" },
);
export type WmsConfig = Static<typeof WmsConfigSchema>;
export const WmsConfig = defineMessage("WmsConfig", WmsConfigSchema);
