import { Type, type Static } from "@sinclair/typebox";
import { defineMessage } from "../message.ts";

/** `wms.yaml`: the one typed config object, loaded and validated at start and passed down. */
export const WmsConfigSchema = Type.Object(
  {
    namespace: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$", default: "wms" }),
    nats: Type.Object({ url: Type.String({ default: "nats://127.0.0.1:4222" }) }, { default: {}, additionalProperties: false }),
    redis: Type.Object({ url: Type.String({ default: "redis://127.0.0.1:6379" }) }, { default: {}, additionalProperties: false }),
    rabbitmq: Type.Object({ url: Type.String({ default: "amqp://guest:guest@127.0.0.1:5672" }) }, { default: {}, additionalProperties: false }),
    pki: Type.Object(
      { dir: Type.String({ default: ".wms/pki", description: "Folder made by `wms pki init`" }) },
      { default: {}, additionalProperties: false },
    ),
    pilot: Type.Object(
      {
        cert: Type.Optional(Type.String({ description: "Pilot certificate (kind pilot, role pilot) the credential cache authenticates pilots by" })),
        key: Type.Optional(Type.String({ description: "Its key; the pilot copies both into its private directory" })),
      },
      { default: {}, additionalProperties: false },
    ),
    credentials: Type.Object(
      {
        encryptionKey: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9+/=]{43,44}$", description: "base64 of 32 bytes; AES-256-GCM key for proxies at rest" })),
        oneTimeKeyTtlSec: Type.Integer({ minimum: 1, default: 600 }),
        maxRenewals: Type.Integer({ minimum: 0, default: 5 }),
      },
      { default: {}, additionalProperties: false },
    ),
    matchmaker: Type.Object(
      {
        lockSec: Type.Number({ minimum: 1, default: 60, description: "Job lock; heartbeats extend it" }),
        stalledIntervalSec: Type.Number({ minimum: 0.5, default: 30 }),
        envelopeTtlSec: Type.Integer({ minimum: 1, default: 300 }),
        nomatchBackoffSec: Type.Number({ minimum: 0, default: 10 }),
        matchBudgetMs: Type.Number({ minimum: 1, default: 100, description: "Evaluation time one advert's whole match may take (all Requirements, Ranks and regexps); over it the advert is refused (1506)" }),
        matchBudgetSteps: Type.Integer({ minimum: 1000, default: 2_000_000, description: "Evaluation steps (attribute references, list elements) one advert's whole match may take" }),
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
