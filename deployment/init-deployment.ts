// `wms init DIR`: a starter deployment folder that `wms up` runs as it is. Everything a first run
// needs is made here, offline: the config with comments, two sites with storage folders and sample
// input data, the replica catalog of that data, the factory's queues, the example tasks, and a PKI
// (CA, service certificates, the pilots' certificate, a production manager's certificate).
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseDocument, stringify } from "yaml";
import { ERR, FactoryConfig, ReplicaCatalog, SiteConfig, WmsError } from "../schemas/index.ts";
import { initPki, issueCertificate } from "../security/index.ts";
import { writeSampleData } from "../demo/sample-data.ts";
import { makeFolder } from "../platform/make-folder.ts";
import { packageRoot } from "./package-root.ts";

export interface InitOptions {
  readonly dir: string;
  /** Deployment namespace; default: `wms-` and 6 random hex digits, so two folders on one set of services never meet. */
  readonly namespace?: string;
  readonly monitorPort?: number;
  readonly matchmakers?: number;
  /** Told before a step that takes long enough to look like a hang (the PKI's RSA keys). */
  readonly onProgress?: (msg: string) => void;
}

export interface InitResult {
  readonly dir: string;
  readonly namespace: string;
  readonly configFile: string;
  readonly tasks: readonly string[];
  readonly productionCert: { readonly cert: string; readonly key: string };
  /** The local user's operator certificate (role `operator`): what `wms factory set` signs with by default. */
  readonly operatorCert: { readonly cert: string; readonly key: string };
}

export const PRODUCTION_DN = "/DC=org/DC=pilot-wms/OU=People/CN=Production Manager";
/** The operator certificate is the local user's: the DN names who retuned a factory in its log and audit. */
export function operatorDn(user = localUserName()): string {
  return `/DC=org/DC=pilot-wms/OU=Operators/CN=${user}`;
}

function localUserName(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? "";
  }
  // A DN value from the login name: characters a DN or a file name could trip on are dropped.
  return name.replace(/[^A-Za-z0-9._ -]+/g, "").slice(0, 64) || "operator";
}
const PILOT_DN = "/DC=org/DC=pilot-wms/OU=Pilots/CN=local pilots";
const FILES_PER_DATASET = 4;

/** The files `wms init` refuses to overwrite: a second init in the same folder changes nothing. */
const OWNED = ["wms.yaml", "sites.yaml", "factory.yaml", "catalog.yaml", "pki", "tasks", "storage"];

export function initDeployment(o: InitOptions): InitResult {
  const dir = path.resolve(o.dir);
  const taken = OWNED.filter((f) => existsSync(path.join(dir, f)));
  if (taken.length > 0) throw new WmsError(ERR.USAGE, `${dir} already holds ${taken.join(", ")}; pick an empty folder (wms init changes nothing in one it has set up)`);
  const namespace = o.namespace ?? `wms-${randomBytes(3).toString("hex")}`;
  const examples = path.join(packageRoot(), "examples");
  // A file in the way (E1008) or a place no folder can be made (E1015), before anything is written.
  makeFolder(dir);

  // Sites: the example's sites, with storage folders inside this deployment.
  const siteDoc = parseDocument(readFileSync(path.join(examples, "sites.yaml"), "utf8"));
  const siteNames = SiteConfig.parse(siteDoc.toJS()).sites.map((s) => s.name);
  const storage = Object.fromEntries(siteNames.map((s) => [s, path.join(dir, "storage", s)]));
  siteNames.forEach((s, i) => siteDoc.setIn(["sites", i, "storagePath"], storage[s]));
  for (const p of Object.values(storage)) mkdirSync(p, { recursive: true });
  const sitesFile = path.join(dir, "sites.yaml");
  writeFileSync(sitesFile, siteDoc.toString());

  const factoryFile = path.join(dir, "factory.yaml");
  FactoryConfig.parse(parseDocument(readFileSync(path.join(examples, "factory.yaml"), "utf8")).toJS());
  copyFileSync(path.join(examples, "factory.yaml"), factoryFile);

  // Sample inputs the example tasks read: examples.ds000 at the first site, examples.ds001 at the second.
  const datasets = writeSampleData({ storage, datasets: siteNames.length, filesPerDataset: FILES_PER_DATASET, prefix: "examples" });
  const catalog: ReplicaCatalog = { schemaVersion: 1, datasets: datasets.map((d) => ({ name: d.name, files: d.files.map((f) => ({ ...f, sites: d.sites })) })) };
  const catalogFile = path.join(dir, "catalog.yaml");
  writeFileSync(catalogFile, `# The replica catalog of the sample inputs under storage/ (size, adler32, md5, the sites holding each\n# file). \`wms up\` loads it (up.catalogs in wms.yaml), as \`wms replica load catalog.yaml\` does.\n${stringify(catalog, { aliasDuplicateObjects: false })}`);

  const tasksDir = path.join(dir, "tasks");
  mkdirSync(tasksDir);
  const tasks = readdirSync(examples).filter((f) => /-(job|task)\.yaml$/.test(f)).sort();
  for (const t of tasks) copyFileSync(path.join(examples, t), path.join(tasksDir, t));

  // The PKI: CA and service certificates, the pilots' certificate, a production manager, and the
  // local user as the operator who may retune the factory.
  const pkiDir = path.join(dir, "pki");
  // node-forge makes the RSA keys in JavaScript: 5-20 s on a loaded machine, which without a word
  // looks like a hang.
  o.onProgress?.(`${dir}: sample data and example tasks written; making the PKI (CA, service, pilot and user keys: 5-20 s)`);
  // The example tasks are the atlas VO's.
  initPki(pkiDir, { vo: "atlas" });
  const write = (prefix: string, issued: { certPem: string; keyPem: string }): { cert: string; key: string } => {
    mkdirSync(path.dirname(prefix), { recursive: true });
    writeFileSync(`${prefix}.cert.pem`, issued.certPem, { mode: 0o644 });
    writeFileSync(`${prefix}.key.pem`, issued.keyPem, { mode: 0o600 });
    return { cert: `${prefix}.cert.pem`, key: `${prefix}.key.pem` };
  };
  const pilot = write(path.join(pkiDir, "pilot"), issueCertificate({ caDir: pkiDir, kind: "pilot", dn: PILOT_DN, roles: ["pilot"], groups: [], days: 365 }));
  const production = write(path.join(pkiDir, "users", "production"), issueCertificate({ caDir: pkiDir, kind: "user", dn: PRODUCTION_DN, roles: ["production"], groups: ["prod"], days: 365 }));
  const operator = write(path.join(pkiDir, "users", "operator"), issueCertificate({ caDir: pkiDir, kind: "user", dn: operatorDn(), roles: ["operator"], groups: [], days: 365 }));

  const configFile = path.join(dir, "wms.yaml");
  writeFileSync(configFile, wmsYaml({ namespace, pkiDir, pilot, production, sitesFile, factoryFile, catalogFile, monitorPort: o.monitorPort ?? 8080, matchmakers: o.matchmakers ?? 2 }), { mode: 0o600 });
  return { dir, namespace, configFile, tasks: tasks.map((t) => path.join(tasksDir, t)), productionCert: production, operatorCert: operator };
}

interface ConfigValues {
  namespace: string;
  pkiDir: string;
  pilot: { cert: string; key: string };
  production: { cert: string; key: string };
  sitesFile: string;
  factoryFile: string;
  catalogFile: string;
  monitorPort: number;
  matchmakers: number;
}

/** wms.yaml, written as text so it keeps its comments; every value is JSON-quoted, which YAML reads as is. */
function wmsYaml(v: ConfigValues): string {
  const q = (s: string | number): string => JSON.stringify(s);
  return `# pilot-wms deployment, made by \`wms init\`. Start it from this folder with \`wms up\` (Ctrl-C stops
# it) or \`wms up --detach\`, then \`wms status\` and \`wms down\`. Every key: schemas/json/WmsConfig.schema.json.
# A relative path here is relative to this folder; these are written absolute, as are the storage
# paths in sites.yaml, so run \`wms init\` again elsewhere rather than moving the folder.

# Subjects, queues and Redis keys of this deployment all start with the namespace, so several
# deployments can share one NATS, Redis and RabbitMQ without meeting.
namespace: ${q(v.namespace)}

# The three services. When one does not answer, \`wms up\` starts a private server on a free port
# with a data folder of its own (as \`wms demo\` does) and stops it at \`wms down\`. Environment
# variables WMS_NATS_URL, WMS_REDIS_URL and WMS_RABBITMQ_URL override these.
nats: { url: "nats://127.0.0.1:4222" }
redis: { url: "redis://127.0.0.1:6379" }
rabbitmq: { url: "amqp://guest:guest@127.0.0.1:5672" }

# The CA bundle every service and pilot trusts, and the service certificates (\`wms pki init\`).
# users/operator.*.pem is yours, with the operator role: \`wms factory set\` signs with it.
pki: { dir: ${q(v.pkiDir)} }

# The pilots' certificate: the credential cache releases a user's proxy only to a pilot of this CA.
pilot: { cert: ${q(v.pilot.cert)}, key: ${q(v.pilot.key)} }

# The credential cache's AES-256-GCM key for proxies at rest (random, made for this folder; this
# file is mode 0600 for that reason). WMS_CREDENTIAL_KEY overrides it.
credentials: { encryptionKey: ${q(randomBytes(32).toString("base64"))} }

# Short timings suit one machine: a lost pilot's job is requeued within half a minute. A job whose
# payload ended (holding) is never requeued; it waits holdingTimeoutSec for its report.
jobs: { heartbeatSec: 5, leaseSec: 30, leaseCheckSec: 5 }
matchmaker: { nomatchBackoffSec: 2 }

sitesFile: ${q(v.sitesFile)}
factoryFile: ${q(v.factoryFile)}
logLevel: info

# What \`wms up\` starts and sets up.
up:
  matchmakers: ${v.matchmakers}   # matchmaker processes, sharing the adverts in one NATS queue group
  monitorPort: ${v.monitorPort}   # the dashboard at http://127.0.0.1:PORT (0: any free port)
  matchmakerMetricsPort: 0   # e.g. 9101: Prometheus /metrics of matchmaker N at 127.0.0.1:9100+N (0: none)
  # Proxies delegated to the credential cache once it answers (as \`wms proxy init\` does), so the
  # pilots can fetch them for this user's jobs. Submit the example tasks with this certificate:
  #   wms task submit tasks/data-local-job.yaml --cert pki/users/production.cert.pem --key pki/users/production.key.pem
  delegate:
    - { cert: ${q(v.production.cert)}, key: ${q(v.production.key)}, lifetimeHours: 24 }
  # Replica catalogs loaded once the services answer (as \`wms replica load\` does).
  catalogs: [${q(v.catalogFile)}]
`;
}
