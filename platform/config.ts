import { existsSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ERR, WmsConfig, WmsError, wireNames, type WireNames } from "../schemas/index.ts";

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
  WMS_LOG_LEVEL?: string;
}

/**
 * Reads a YAML or JSON file (YAML is a superset of JSON) into plain data. Text that does not parse
 * is `invalid` (BAD_INPUT for a user's data file; configuration files pass BAD_CONFIG).
 */
export function readDataFile(path: string, invalid: typeof ERR.BAD_INPUT | typeof ERR.BAD_CONFIG = ERR.BAD_INPUT): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new WmsError(ERR.FILE_UNREADABLE, `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new WmsError(invalid, `${path}: not valid YAML/JSON (${(e as Error).message.split("\n")[0]})`);
  }
}

/**
 * Loads `wms.yaml` (or the file given / named by WMS_CONFIG), applies environment overrides and
 * validates the result. A missing default file is fine: everything has a loopback default.
 */
export function loadConfig(opts: { path?: string; env?: ConfigEnv; overrides?: Partial<WmsConfig> } = {}): LoadedConfig {
  const env = opts.env ?? (process.env as ConfigEnv);
  const explicit = opts.path ?? env.WMS_CONFIG;
  const path = explicit ?? (existsSync("wms.yaml") ? "wms.yaml" : undefined);
  const raw: Record<string, unknown> = {};
  if (path !== undefined) {
    const data = readDataFile(path, ERR.BAD_CONFIG);
    if (data !== null && data !== undefined) {
      if (typeof data !== "object" || Array.isArray(data)) throw new WmsError(ERR.BAD_CONFIG, `${path}: the top level must be a mapping`);
      Object.assign(raw, data);
    }
  }
  Object.assign(raw, opts.overrides ?? {});
  const section = (k: string): Record<string, unknown> => {
    const v = raw[k];
    const obj = v && typeof v === "object" && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
    raw[k] = obj;
    return obj;
  };
  if (env.WMS_NAMESPACE) raw.namespace = env.WMS_NAMESPACE;
  if (env.WMS_NATS_URL) section("nats").url = env.WMS_NATS_URL;
  if (env.WMS_REDIS_URL) section("redis").url = env.WMS_REDIS_URL;
  if (env.WMS_RABBITMQ_URL) section("rabbitmq").url = env.WMS_RABBITMQ_URL;
  if (env.WMS_PKI_DIR) section("pki").dir = env.WMS_PKI_DIR;
  if (env.WMS_CREDENTIAL_KEY) section("credentials").encryptionKey = env.WMS_CREDENTIAL_KEY;
  if (env.WMS_LOG_LEVEL) raw.logLevel = env.WMS_LOG_LEVEL;
  const problems = WmsConfig.problems(raw);
  if (problems !== undefined) throw new WmsError(ERR.BAD_CONFIG, `${path ?? "(defaults)"}: ${problems}`);
  const config = raw as WmsConfig;
  return { config, names: wireNames(config.namespace), path };
}
