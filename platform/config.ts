import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { DEFAULT_PKI_DIR, ERR, WmsConfig, WmsError, wireNames, type WireNames } from "../schemas/index.ts";
import { readInputText } from "./input-file.ts";
import { checkServiceTargets, readSecret } from "./service-targets.ts";
import { parseYamlDocument, yamlErrorLine } from "./yaml-document.ts";

export interface LoadedConfig {
  readonly config: WmsConfig;
  readonly names: WireNames;
  /** The file it came from, if any. */
  readonly path: string | undefined;
}

/** Environment overrides: the only place pilot-wms reads process.env for settings. */
export interface ConfigEnv {
  WMS_CONFIG?: string;
  WMS_NAMESPACE?: string;
  WMS_NATS_URL?: string;
  WMS_REDIS_URL?: string;
  WMS_RABBITMQ_URL?: string;
  WMS_PKI_DIR?: string;
  WMS_CREDENTIAL_KEY?: string;
  /** A file holding WMS_CREDENTIAL_KEY (a compose or Kubernetes secret). */
  WMS_CREDENTIAL_KEY_FILE?: string;
  /** credentials.keyringFile: the keyring `wms credentials rotate-key` writes. */
  WMS_CREDENTIAL_KEYRING?: string;
  WMS_LOG_LEVEL?: string;
  /** The seal key files (a compose or Kubernetes secret), when not the PKI folder's. */
  WMS_JOB_SPEC_SEAL_KEYS_FILE?: string;
  WMS_ONE_TIME_KEY_SEAL_KEYS_FILE?: string;
  /** A role's identity file from `wms secrets init`. */
  WMS_IDENTITY_FILE?: string;
  /** The identity file a factory starts its pilots with (pilot.identityFile). */
  WMS_PILOT_IDENTITY_FILE?: string;
  WMS_NATS_USER?: string;
  WMS_NATS_PASSWORD?: string;
  WMS_NATS_PASSWORD_FILE?: string;
  WMS_NATS_NKEY_SEED_FILE?: string;
  WMS_NATS_CREDS_FILE?: string;
  WMS_REDIS_USERNAME?: string;
  WMS_REDIS_PASSWORD?: string;
  WMS_REDIS_PASSWORD_FILE?: string;
  WMS_RABBITMQ_USERNAME?: string;
  WMS_RABBITMQ_PASSWORD?: string;
  WMS_RABBITMQ_PASSWORD_FILE?: string;
}

/** What an identity file may set: credentials and TLS, never where the servers are. */
const IDENTITY_FIELDS: Readonly<Record<"nats" | "redis" | "rabbitmq", readonly string[]>> = {
  nats: ["user", "password", "passwordFile", "nkeySeedFile", "credsFile", "inboxPrefix", "tls"],
  redis: ["username", "password", "passwordFile", "tls"],
  rabbitmq: ["username", "password", "passwordFile", "vhost", "declareTopology", "tls"],
};
const CREDENTIAL_FIELDS = ["user", "username", "password", "passwordFile", "nkeySeedFile", "credsFile"];

/**
 * Reads a role's identity (written by `wms secrets init`). Relative file names in it are relative
 * to the identity file, so a deployment's secrets folder can be mounted anywhere.
 */
export function readIdentityFile(path: string): Record<"nats" | "redis" | "rabbitmq", Record<string, unknown>> {
  const data = readDataFile(path);
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new WmsError(ERR.BAD_CONFIG, `${path}: an identity file is a mapping`);
  const out = { nats: {}, redis: {}, rabbitmq: {} } as Record<"nats" | "redis" | "rabbitmq", Record<string, unknown>>;
  const dir = dirname(path);
  for (const [section, value] of Object.entries(data as Record<string, unknown>)) {
    if (section !== "nats" && section !== "redis" && section !== "rabbitmq") throw new WmsError(ERR.BAD_CONFIG, `${path}: unknown section '${section}'`);
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new WmsError(ERR.BAD_CONFIG, `${path}: ${section} must be a mapping`);
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!IDENTITY_FIELDS[section].includes(k)) throw new WmsError(ERR.BAD_CONFIG, `${path}: ${section}.${k} cannot be set in an identity file`);
      out[section][k] = /File$/.test(k) && typeof v === "string" ? resolve(dir, v) : v;
    }
  }
  return out;
}

/**
 * Reads a YAML or JSON file (YAML is a superset of JSON) into plain data. Text that does not parse
 * is `invalid` (BAD_INPUT for a user's data file; configuration files pass BAD_CONFIG).
 */
export function readDataFile(path: string, invalid: typeof ERR.BAD_INPUT | typeof ERR.BAD_CONFIG = ERR.BAD_INPUT): unknown {
  return parseDataText(readInputText(path, invalid), path, invalid);
}


/** YAML or JSON text (YAML reads JSON as is) from `source`, or one coded line saying why not. */
export function parseDataText(text: string, source: string, invalid: typeof ERR.BAD_INPUT | typeof ERR.BAD_CONFIG = ERR.BAD_INPUT): unknown {
  try {
    // Keys checked unique in linear time: yaml-document.ts says why.
    return parseYamlDocument(text).toJS();
  } catch (e) {
    throw new WmsError(invalid, `${source}: not valid YAML/JSON (${yamlErrorLine(e)})`);
  }
}

/**
 * The keys of wms.yaml that name files or folders (`[]`: each element of a list). A relative one is
 * relative to the folder of the file it is written in, as in the identity files, so a command gives
 * the same answer from any working directory (`wms --config grid/wms.yaml ...`).
 */
const PATH_KEYS: readonly string[] = [
  ...["nats", "redis", "rabbitmq"].flatMap((s) => [`${s}.passwordFile`, `${s}.tls.ca`, `${s}.tls.cert`, `${s}.tls.key`]),
  "nats.nkeySeedFile",
  "nats.credsFile",
  "identityFile",
  "pki.dir",
  "pki.jobSpecSealKeysFile",
  "pki.oneTimeKeySealKeysFile",
  "pilot.cert",
  "pilot.key",
  "pilot.identityFile",
  "credentials.keyringFile",
  "up.delegate[].cert",
  "up.delegate[].key",
  "up.catalogs[]",
  "sitesFile",
  "factoryFile",
];

function resolvePathsIn(node: unknown, keys: readonly string[], dir: string): unknown {
  if (keys.length === 0) return typeof node === "string" && node !== "" && !isAbsolute(node) ? resolve(dir, node) : node;
  const [key, ...rest] = keys;
  if (key.endsWith("[]")) {
    const list = (node as Record<string, unknown> | null)?.[key.slice(0, -2)];
    if (Array.isArray(list)) list.forEach((v, i) => (list[i] = resolvePathsIn(v, rest, dir)));
    return node;
  }
  if (node === null || typeof node !== "object" || Array.isArray(node) || !(key in node)) return node;
  const obj = node as Record<string, unknown>;
  obj[key] = resolvePathsIn(obj[key], rest, dir);
  return node;
}

/** Makes the relative paths of a config file's data absolute against `dir`, in place. */
function resolveConfigPaths(data: Record<string, unknown>, dir: string): void {
  for (const k of PATH_KEYS) resolvePathsIn(data, k.split("."), dir);
  // The PKI folder's default is a path too: the deployment folder's, not whichever the command runs in.
  const pki = data.pki;
  if (pki === undefined || (pki !== null && typeof pki === "object" && !Array.isArray(pki) && (pki as Record<string, unknown>).dir === undefined)) {
    data.pki = { ...(pki as Record<string, unknown> | undefined), dir: resolve(dir, DEFAULT_PKI_DIR) };
  }
}

/**
 * Loads `wms.yaml` (or the file given / named by WMS_CONFIG), applies environment overrides and
 * validates the result. A missing default file is fine: everything has a loopback default.
 */
export function loadConfig(
  opts: {
    path?: string;
    env?: ConfigEnv;
    overrides?: Partial<WmsConfig>;
    /**
     * Where the services of the deployment whose wms.yaml is at this path run now, when something
     * other than the file decides it (the private servers a running `wms up` started); the
     * environment's URLs still win.
     */
    runningServices?: (configPath: string) => (Partial<Record<"nats" | "redis" | "rabbitmq", string>> & { readonly identityFile?: string }) | undefined;
  } = {},
): LoadedConfig {
  const env = opts.env ?? (process.env as ConfigEnv);
  // Set and empty is unset, as for every other WMS_* variable (it read as a file named "").
  const explicit = opts.path ?? (env.WMS_CONFIG || undefined);
  if (explicit === "") throw new WmsError(ERR.USAGE, "--config '': an empty file name; name wms.yaml or leave --config out");
  const path = explicit ?? (existsSync("wms.yaml") ? "wms.yaml" : undefined);
  const raw: Record<string, unknown> = {};
  if (path !== undefined) {
    const data = readDataFile(path, ERR.BAD_CONFIG);
    if (data !== null && data !== undefined) {
      if (typeof data !== "object" || Array.isArray(data)) throw new WmsError(ERR.BAD_CONFIG, `${path}: the top level must be a mapping`);
      Object.assign(raw, data);
    }
    resolveConfigPaths(raw, dirname(resolve(path)));
  }
  Object.assign(raw, opts.overrides ?? {});
  const running = path !== undefined ? opts.runningServices?.(resolve(path)) : undefined;
  const section = (k: string): Record<string, unknown> => {
    const v = raw[k];
    const obj = v && typeof v === "object" && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
    raw[k] = obj;
    return obj;
  };
  if (env.WMS_NAMESPACE) raw.namespace = env.WMS_NAMESPACE;
  if (running?.nats) section("nats").url = running.nats;
  if (running?.redis) {
    section("redis").url = running.redis;
    delete section("redis").cluster;
  }
  if (running?.rabbitmq) section("rabbitmq").url = running.rabbitmq;
  if (env.WMS_NATS_URL) section("nats").url = env.WMS_NATS_URL;
  if (env.WMS_REDIS_URL) {
    section("redis").url = env.WMS_REDIS_URL;
    delete section("redis").cluster;
  }
  if (env.WMS_RABBITMQ_URL) section("rabbitmq").url = env.WMS_RABBITMQ_URL;
  // Set and empty means "no identity file", whatever the shared file says: how a factory starts
  // pilots that must not inherit its own identity.
  if (env.WMS_IDENTITY_FILE !== undefined) raw.identityFile = env.WMS_IDENTITY_FILE || undefined;
  // Private servers `wms up` runs with authentication on admit only their own users: without an
  // identity of its own, a command uses the one `wms up` names for them (the operator's).
  else if (running?.identityFile !== undefined && raw.identityFile === undefined) raw.identityFile = running.identityFile;
  if (raw.identityFile === undefined) delete raw.identityFile;
  // The pilots' identity a factory hands its pilots (`wms up` names the pilot role's).
  if (env.WMS_PILOT_IDENTITY_FILE) section("pilot").identityFile = env.WMS_PILOT_IDENTITY_FILE;
  if (typeof raw.identityFile === "string") {
    // The identity replaces whatever credentials the shared file carries, on all three transports
    // (a transport it does not name is one this role holds no credentials for): one role, one identity.
    const identity = readIdentityFile(raw.identityFile);
    for (const s of ["nats", "redis", "rabbitmq"] as const) {
      const target = section(s);
      for (const k of CREDENTIAL_FIELDS) delete target[k];
      Object.assign(target, identity[s]);
    }
  }
  const credential = (s: "nats" | "redis" | "rabbitmq", field: string, value: string | undefined): void => {
    if (!value) return;
    const target = section(s);
    // An environment secret replaces the other form of the same secret, not just its own key.
    if (field === "password") delete target.passwordFile;
    if (field === "passwordFile") delete target.password;
    target[field] = value;
  };
  credential("nats", "user", env.WMS_NATS_USER);
  credential("nats", "password", env.WMS_NATS_PASSWORD);
  credential("nats", "passwordFile", env.WMS_NATS_PASSWORD_FILE);
  credential("nats", "nkeySeedFile", env.WMS_NATS_NKEY_SEED_FILE);
  credential("nats", "credsFile", env.WMS_NATS_CREDS_FILE);
  credential("redis", "username", env.WMS_REDIS_USERNAME);
  credential("redis", "password", env.WMS_REDIS_PASSWORD);
  credential("redis", "passwordFile", env.WMS_REDIS_PASSWORD_FILE);
  credential("rabbitmq", "username", env.WMS_RABBITMQ_USERNAME);
  credential("rabbitmq", "password", env.WMS_RABBITMQ_PASSWORD);
  credential("rabbitmq", "passwordFile", env.WMS_RABBITMQ_PASSWORD_FILE);
  if (env.WMS_PKI_DIR) section("pki").dir = env.WMS_PKI_DIR;
  if (env.WMS_JOB_SPEC_SEAL_KEYS_FILE) section("pki").jobSpecSealKeysFile = env.WMS_JOB_SPEC_SEAL_KEYS_FILE;
  if (env.WMS_ONE_TIME_KEY_SEAL_KEYS_FILE) section("pki").oneTimeKeySealKeysFile = env.WMS_ONE_TIME_KEY_SEAL_KEYS_FILE;
  if (env.WMS_CREDENTIAL_KEY) section("credentials").encryptionKey = env.WMS_CREDENTIAL_KEY;
  if (env.WMS_CREDENTIAL_KEY_FILE) section("credentials").encryptionKey = readSecret({ file: env.WMS_CREDENTIAL_KEY_FILE });
  if (env.WMS_CREDENTIAL_KEYRING) section("credentials").keyringFile = env.WMS_CREDENTIAL_KEYRING;
  if (env.WMS_LOG_LEVEL) raw.logLevel = env.WMS_LOG_LEVEL;
  const problems = WmsConfig.problems(raw);
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${path ?? "(defaults)"}: ${problems}`);
  const config = raw as WmsConfig;
  try {
    checkServiceTargets(config);
  } catch (e) {
    if (e instanceof WmsError) throw new WmsError(e.code, `${path ?? "(defaults)"}: ${e.detail}`);
    throw e;
  }
  return { config, names: wireNames(config.namespace), path };
}

/**
 * The same configuration under another role's identity: what a process that hosts several roles
 * (the demo, a test) gives each service it starts, so each connects as itself.
 */
export function configAs(loaded: LoadedConfig, identityFile: string): LoadedConfig {
  const identity = readIdentityFile(identityFile);
  const config = structuredClone(loaded.config) as WmsConfig & Record<"nats" | "redis" | "rabbitmq", Record<string, unknown>>;
  for (const s of ["nats", "redis", "rabbitmq"] as const) {
    for (const k of CREDENTIAL_FIELDS) delete config[s][k];
    Object.assign(config[s], identity[s]);
  }
  config.identityFile = identityFile;
  const problems = WmsConfig.problems(config);
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${identityFile}: ${problems}`);
  checkServiceTargets(config);
  return { config, names: loaded.names, path: loaded.path };
}
