// Which identity a test connects with. The run's servers (auth-run.ts) accept no anonymous client:
// a test opens each connection as the component it plays — a matchmaker's as `matchmaker`, an
// intake's as `intake`, a spawned `wms pilot` as `pilot` — with the identity files `wms secrets
// init` wrote for the run. With WMS_TEST_SERVICES=shared (the machine's services, no
// authentication) the same calls change nothing, so a test reads the same either way.
import { join } from "node:path";
import { configAs, type LoadedConfig } from "../../platform/config.ts";
import type { ServerTls } from "../../platform/local-services.ts";
import { rabbitTarget, readSecret } from "../../platform/service-targets.ts";
import type { TransportRole } from "../../security/index.ts";

/** The sample namespace the run's role table is written for (auth-run.ts widens it to every test namespace). */
export const RUN_NAMESPACE = "wmstestrun";

export type TestServicesMode = "auth" | "shared";

/**
 * Authentication on unless WMS_TEST_SERVICES=shared opts out; any other value is refused rather
 * than read as either, so a misspelt opt-out does not silently run the other way.
 */
export function testServicesMode(): TestServicesMode {
  const v = process.env.WMS_TEST_SERVICES;
  if (v === undefined || v === "" || v === "auth") return "auth";
  if (v === "shared") return "shared";
  throw new Error(`WMS_TEST_SERVICES=${v}: expected auth (the default) or shared`);
}

/** Whether this run's servers authenticate every client. */
export const testAuth = (): boolean => testServicesMode() === "auth" && process.env.WMS_TEST_SECRETS !== undefined;

/** The identity file of a role in this run; undefined on the shared services. */
export function roleIdentityFile(role: TransportRole): string | undefined {
  const dir = process.env.WMS_TEST_SECRETS;
  return testAuth() && dir ? join(dir, role, "identity.yaml") : undefined;
}

/** The config as ROLE: its NATS, Redis and RabbitMQ identity on authenticated servers, as is otherwise. */
export function asRole(loaded: LoadedConfig, role: TransportRole): LoadedConfig {
  const file = roleIdentityFile(role);
  return file === undefined ? loaded : configAs(loaded, file);
}

/** Environment for a spawned `wms` that plays ROLE (WMS_IDENTITY_FILE); empty on the shared services. */
export function roleEnv(role: TransportRole): Record<string, string> {
  const file = roleIdentityFile(role);
  return file === undefined ? {} : { WMS_IDENTITY_FILE: file };
}

/** The run's service URLs as WMS_*_URL variables (empty on the shared services: the defaults). */
export function serviceUrlEnv(): Record<string, string> {
  if (!testAuth()) return {};
  const out: Record<string, string> = {};
  for (const k of ["WMS_NATS_URL", "WMS_REDIS_URL", "WMS_RABBITMQ_URL"] as const) {
    const v = process.env[k];
    if (v) out[k] = v;
  }
  return out;
}

/**
 * An AMQP URL that logs in as ROLE (user, password and vhost in the URL), for tests that open
 * RabbitMQ with amqplib directly; the loaded config's URL as is on the shared services.
 */
export function roleRabbitUrl(loaded: LoadedConfig, role: TransportRole): string {
  const t = rabbitTarget(asRole(loaded, role).config.rabbitmq);
  if (t.username === undefined) return loaded.config.rabbitmq.url;
  const u = new URL(t.urls[0].toString());
  u.username = encodeURIComponent(t.username);
  u.password = t.password !== undefined ? encodeURIComponent(readSecret(t.password)) : "";
  return u.toString();
}

/** The server side of the run's authentication: `wms secrets init`'s server files and the TLS certificate. */
export interface RunServerAuth {
  /** NATS users per role (NKeys), for `startPrivateNats({ authConfig })`; clients need TLS (`tls`). */
  readonly natsConfig: string;
  /** Redis ACL users per role, the default user off. */
  readonly redisAclFile: string;
  /** RabbitMQ users, vhost and permissions, loaded at boot; guest deleted. */
  readonly rabbitDefinitions: string;
  /** The certificate the role identities trust (their `nats.tls.ca`). */
  readonly tls: ServerTls;
}

/**
 * What a test's own private server (restarted, killed, clustered) starts with so that no anonymous
 * client gets in there either: the run's server files (auth-run.ts), so the run's role identities
 * (`asRole`, `roleEnv`) log in on it unchanged. Undefined on the shared services: plain servers.
 */
export function runServerAuth(): RunServerAuth | undefined {
  const dir = process.env.WMS_TEST_SECRETS;
  const certFile = process.env.WMS_TEST_TLS_CERT;
  const keyFile = process.env.WMS_TEST_TLS_KEY;
  if (!testAuth() || !dir || !certFile || !keyFile) return undefined;
  const servers = join(dir, "servers");
  return { natsConfig: join(servers, "nats-auth.conf"), redisAclFile: join(servers, "redis-users.acl"), rabbitDefinitions: join(servers, "rabbitmq-definitions.json"), tls: { certFile, keyFile } };
}
