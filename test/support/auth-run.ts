// Vitest global set-up of the integration and heavy projects: unless WMS_TEST_SERVICES=shared opts
// out, ONE private trio with authentication on for the whole run (NATS over TLS with an NKey user
// per role, Redis with an ACL user per role and the default user off, RabbitMQ with a user per role
// and no guest), started from the files `wms secrets init` writes. Its URLs and the secrets folder go to
// the test processes through the environment (WMS_*_URL, WMS_TEST_SECRETS); every test then connects
// as the role it plays (test-roles.ts), so a permission a real component lacks fails its test.
// Test files run in namespaces of their own (`t…`, namespace.ts), so the role table is written for
// a sample namespace and widened to every test namespace; the machine's shared services are never
// touched, and the servers are stopped by PID when the run ends. A run killed before its teardown
// (a cancelled CI job: SIGTERM or SIGKILL to vitest) takes them along: a detached watchdog
// (orphan-watchdog.mjs) stops them by PID within seconds of this process's end.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { startPrivateNats, startPrivateRabbit, startPrivateRedis } from "../../platform/local-services.ts";
import { startTicks } from "../../platform/process-identity.ts";
import { wireNames } from "../../schemas/index.ts";
import { initTransportSecrets, type SecretsInitResult } from "../../security/index.ts";
import { RUN_NAMESPACE, testServicesMode } from "./test-roles.ts";

/** A self-signed server certificate for 127.0.0.1; it is its own CA for the clients. */
function serverTls(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "server.cert.pem");
  const keyFile = join(dir, "server.key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
  return { certFile, keyFile };
}

/**
 * The role table of one namespace, widened to every test namespace: NATS subjects `<ns>.x` become
 * `*.x` (a namespace is one subject token), Redis key patterns `<ns>:*` become `t*:*` (every test
 * namespace starts with `t`), and RabbitMQ's resource patterns match any namespace in the run's one
 * vhost. Role permissions are otherwise exactly `wms secrets init`'s.
 */
function widenToTestNamespaces(secrets: SecretsInitResult, caFile: string): void {
  const ns = RUN_NAMESPACE;
  const nats = readFileSync(secrets.natsConfig, "utf8");
  writeFileSync(secrets.natsConfig, nats.replaceAll(`"${ns}.`, `"*.`).replaceAll(`_INBOX.${ns}.`, "_INBOX.*."));
  const acl = readFileSync(secrets.redisAclFile, "utf8");
  writeFileSync(secrets.redisAclFile, acl.replaceAll(`~${ns}:`, "~t*:").replaceAll(`~{${ns}}`, "~{t*}").replaceAll(`~{${ns}:`, "~{t*:"));
  const defs = JSON.parse(readFileSync(secrets.rabbitDefinitions, "utf8")) as { permissions: Array<Record<string, string>> };
  for (const p of defs.permissions) for (const k of ["configure", "write", "read"]) p[k] = (p[k] ?? "").replaceAll(`^${ns}\\.`, "^t[a-z0-9_-]*\\.");
  writeFileSync(secrets.rabbitDefinitions, JSON.stringify(defs, null, 2) + "\n");
  // Clients trust the server's self-signed certificate; the identity carries it as the CA.
  for (const r of secrets.roles) {
    const identity = parseYaml(readFileSync(r.identityFile, "utf8")) as Record<string, Record<string, unknown>>;
    if (identity.nats) identity.nats.tls = { ca: caFile };
    writeFileSync(r.identityFile, toYaml(identity), { mode: 0o600 });
  }
}

/** The watchdog that stops this run's servers if this process ends without its teardown: detached, so a signal to vitest's group spares it. */
function startWatchdog(root: string): ReturnType<typeof spawn> {
  const script = fileURLToPath(new URL("./orphan-watchdog.mjs", import.meta.url));
  const child = spawn(process.execPath, [script, String(process.pid), root], { detached: true, stdio: "ignore" });
  child.unref();
  return child;
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  // The integration and heavy projects both name this file; one trio serves both.
  if (testServicesMode() !== "auth" || process.env.WMS_TEST_SECRETS) return undefined;
  const t0 = performance.now();
  const root = mkdtempSync(join(tmpdir(), "wms-test-auth-"));
  const secrets = initTransportSecrets(join(root, "secrets"), wireNames(RUN_NAMESPACE));
  const tls = serverTls(root);
  widenToTestNamespaces(secrets, tls.certFile);
  const watchdog = startWatchdog(root);
  const started = await Promise.allSettled([
    startPrivateNats(join(root, "nats"), { authConfig: secrets.natsConfig, tls }),
    startPrivateRedis(join(root, "redis"), { aclFile: secrets.redisAclFile }),
    startPrivateRabbit(join(root, "rabbitmq"), { definitionsFile: secrets.rabbitDefinitions }),
  ]);
  // The servers' process groups with their start times, for the watchdog (pids reused later are not ours).
  const pids = started.flatMap((s) => (s.status !== "fulfilled" ? [] : "pids" in s.value ? s.value.pids : s.value.pid !== undefined ? [s.value.pid] : []));
  writeFileSync(join(root, "pids.json"), JSON.stringify(pids.map((pid) => ({ pid, startTicks: startTicks(pid) }))));
  const stop = async (): Promise<void> => {
    watchdog.kill("SIGTERM");
    await Promise.all(started.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
    // A stopped RabbitMQ node's last files can still be appearing while the folder is removed
    // (ENOTEMPTY, seen once at a run's end): rmSync retries, and a folder left in /tmp must not turn
    // a run whose tests passed red.
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (e) {
      process.stderr.write(`test services: ${root} not removed (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`);
    }
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [nats, redis, rabbit] = started.map((s) => (s.status === "fulfilled" ? s.value.url : ""));
  // The server certificate too: a test's own private servers (restartable, clusters) start from the
  // same files and certificate, so the same identities log in there (test-roles.ts, runServerAuth).
  Object.assign(process.env, { WMS_NATS_URL: nats, WMS_REDIS_URL: redis, WMS_RABBITMQ_URL: rabbit, WMS_TEST_SECRETS: secrets.dir, WMS_TEST_TLS_CERT: tls.certFile, WMS_TEST_TLS_KEY: tls.keyFile });
  process.stderr.write(`test services: private NATS (TLS) ${nats}, Redis ${redis}, RabbitMQ ${rabbit} with authentication on, started in ${Math.round(performance.now() - t0)} ms\n`);
  return stop;
}
