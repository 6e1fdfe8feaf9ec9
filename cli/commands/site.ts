import type { Command } from "commander";
import { action, configFor, EXIT, parseIntOption, printJson, serveUntilStopped } from "../command-kit.ts";
import { ERR, WmsError, type AuditRecord, type Site, type WireNames } from "../../schemas/index.ts";
import type { RedisClient } from "../../platform/redis-client.ts";
import type { AccessExplanation } from "../../site-authz/index.ts";

interface CheckOptions {
  site: string;
  dn: string;
  ca?: string;
  vo?: string;
  group: string[];
  role: string[];
  walltime?: number;
  sitesFile?: string;
  lease?: boolean;
  node: string;
  audit: number;
  json?: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const yesNo = (b: boolean): string => (b ? "yes" : "NO ");

function renderCheck(x: AccessExplanation, recent: AuditRecord[] | string): string {
  const id = x.identity;
  const out: string[] = [];
  out.push(`site ${x.site} (identity switch: ${x.identitySwitch})`);
  out.push(`identity ${id.dn}`, `  ca ${id.caDn || "(not given)"}  vo ${id.vo ?? "(none)"}  groups [${id.groups.join(", ")}]  roles [${id.roles.join(", ")}]`);
  const a = x.authz;
  out.push(a.allowed ? `authorization: ALLOWED (${a.reason})` : `authorization: REFUSED E${a.code ?? "?"} by ${a.plugin ?? "?"}: ${a.reason}`);
  for (const s of a.trail) out.push(`  ${s.plugin.padEnd(11)} ${yesNo(s.allowed)}  ${s.reason}`);
  if (x.mapping) {
    out.push(`mapping: ${x.mapping.account} by ${x.mapping.plugin}: ${x.mapping.detail}`);
    for (const s of x.mapping.trail) out.push(`  ${s.plugin.padEnd(11)} ${s.mapped ? "maps" : "no  "}  ${s.detail}`);
  } else if (x.mappingError) {
    out.push(`mapping: none: E${x.mappingError.code} ${x.mappingError.name}: ${x.mappingError.message}`);
  } else {
    out.push("mapping: the site has no mapping plug-ins (payloads run as the pilot)");
  }
  if (typeof recent === "string") out.push(`recent audit: ${recent}`);
  else if (recent.length) {
    out.push("recent audit for this DN (newest first):");
    for (const r of recent) out.push(`  ${new Date(r.at).toISOString()} ${r.event} ${r.node ?? "-"} ${r.jobId ?? "-"} ${r.localAccount ?? "-"}: ${r.detail ?? ""}`);
  }
  return out.join("\n") + "\n";
}

/** Records read from the audit trail to find a DN's newest: it holds every DN's, and every site's. */
const AUDIT_TRAIL_SCAN = 2000;

/**
 * The DN's newest audit records from both stores (agents/README.md, "Audit: which store is the
 * record"): the audit trail the agents keep from the pilots' reports, where every identity switch
 * of a running deployment is, and the site window this command writes with --lease. Reading the
 * window alone showed a site operator nothing of the switches that happened.
 */
async function recentAuditOf(redis: RedisClient, names: WireNames, n: number, keep: (r: AuditRecord) => boolean): Promise<AuditRecord[]> {
  const { recentAudit } = await import("../../site-authz/index.ts");
  const { auditLog } = await import("../../agents/accounting/index.ts");
  const [window, trail] = await Promise.all([recentAudit(redis, names, n, keep), auditLog(redis, names).recent(AUDIT_TRAIL_SCAN)]);
  return [...window, ...trail.filter(keep)].sort((a, b) => b.at - a.at).slice(0, n);
}

function siteRow(s: Site): string {
  const authz = s.authz.map((p) => p.type).join(",") || "-";
  const mapping = s.mapping.map((p) => (p.type === "pool" ? `pool(${p.accounts.length})` : p.type)).join(",") || "-";
  return `${s.name.padEnd(20)}${(s.online ? "yes" : "no").padEnd(8)}${s.identitySwitch.padEnd(10)}${String(s.capacity).padEnd(10)}${authz.padEnd(34)}${mapping}`;
}

export function registerSite(program: Command): void {
  const site = program.command("site").description("site authorization and account mapping (LCAS/LCMAPS/SCAS roles)");

  site
    .command("list")
    .description("list the sites of the site config (sitesFile in wms.yaml, or --sites-file)")
    .option("--sites-file <file>", "site configuration (SiteConfig YAML/JSON); default: sitesFile in wms.yaml")
    .option("--json", "print JSON")
    .action(
      action(async (opts: { sitesFile?: string; json?: boolean }, cmd: Command) => {
        const { config } = configFor(cmd);
        const { loadSiteConfig } = await import("../../site-authz/index.ts");
        const sites = loadSiteConfig(opts.sitesFile ?? config.sitesFile).sites;
        if (opts.json) return printJson(sites);
        process.stdout.write(`${"SITE".padEnd(20)}${"ONLINE".padEnd(8)}${"SWITCH".padEnd(10)}${"CAPACITY".padEnd(10)}${"AUTHZ".padEnd(34)}MAPPING\n`);
        for (const s of sites) process.stdout.write(siteRow(s) + "\n");
      }),
    );

  const pool = site.command("pool").description("the site-central pool-account lease service (SCAS's role)");
  pool
    .command("serve")
    .description(
      "run the pool-lease service until SIGINT/SIGTERM: pilots at sites that map to pool accounts lease and release them through it (NATS), so they hold no Redis credentials. " +
        "Which accounts each site's pool holds comes from the site config; a request counts only when signed by the pilot that holds a live attempt of a job of the DN asked for",
    )
    .option("--sites-file <file>", "site configuration (SiteConfig YAML/JSON); default: sitesFile in wms.yaml")
    .action(
      action(async (opts: { sitesFile?: string }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        const { loadSiteConfig, startPoolLeaseService } = await import("../../site-authz/index.ts");
        const { createLogger } = await import("../../platform/logger.ts");
        const { connectNats, connectRedis } = await import("../nats-connection.ts");
        const sites = loadSiteConfig(opts.sitesFile ?? config.sitesFile).sites;
        const logger = createLogger("pool-leases", config.logLevel);
        const nc = await connectNats(config, "wms-pool-leases", logger);
        const redis = await connectRedis(config, { onError: (e) => logger.warn({ err: e.message }, "redis") });
        const service = startPoolLeaseService({ nc, redis, names, sites, logger });
        await service.ready;
        await serveUntilStopped(async () => {
          await service.stop();
          await nc.close();
          redis.disconnect();
        });
      }),
    );

  const authz = site.command("authz").description("site authorization decisions");
  authz
    .command("check")
    .description("explain whether a DN may run at a site (which plug-in allowed or refused) and which local account it maps to; exits 1 when it may not run")
    .requiredOption("--site <name>", "site name from the site config")
    .requiredOption("--dn <dn>", "the user's DN in slash form, e.g. '/DC=org/CN=Jane Doe'")
    .option("--ca <dn>", "DN of the CA that issued the user's certificate (for allow/ban lists by CA)")
    .option("--vo <vo>", "the VO from the user's attributes")
    .option("--group <group>", "a VOMS group (repeatable)", collect, [])
    .option("--role <role>", "a VOMS role, plain or FQAN (repeatable)", collect, [])
    .option("--walltime <sec>", "the job's walltime in seconds, for the walltime plug-in", parseIntOption("--walltime", 1))
    .option("--sites-file <file>", "site configuration (SiteConfig YAML/JSON); default: sitesFile in wms.yaml")
    .option("--lease", "take (or renew) the pool lease for real and audit the decisions; without it nothing changes")
    .option("--node <name>", "node name recorded with --lease", "wms-cli")
    .option("--audit <n>", "show this many recent audit records of the DN at the site, newest first: the pilots' (identity switches with the local account and job, mapping and authorization decisions, as the audit agent keeps them) and this command's own with --lease (0: none)", parseIntOption("--audit", 0), 5)
    .option("--json", "print JSON")
    .action(
      action(async (opts: CheckOptions, cmd: Command) => {
        const { config, names } = configFor(cmd);
        if (!opts.dn.startsWith("/")) throw new WmsError(ERR.USAGE, `--dn must be a DN in slash form (/DC=org/CN=...), got '${opts.dn}'`);
        const sa = await import("../../site-authz/index.ts");
        const { openRedis } = await import("../../platform/connections.ts");
        const { describeTarget } = await import("../../platform/service-targets.ts");
        const s = sa.findSite(sa.loadSiteConfig(opts.sitesFile ?? config.sitesFile), opts.site);
        const needsRedis = s.mapping.some((p) => p.type === "pool") || opts.lease === true || opts.audit > 0;
        const redis = needsRedis ? openRedis(config, { lazy: true }) : undefined;
        let redisUp = false;
        if (redis) {
          redis.on("error", () => undefined);
          try {
            await redis.connect();
            redisUp = true;
          } catch {
            redis.disconnect();
          }
        }
        try {
          const needsPool = s.mapping.some((p) => p.type === "pool") || opts.lease === true;
          if (needsPool && !redisUp) throw new WmsError(ERR.SERVICE_UNAVAILABLE, `Redis at ${describeTarget("redis", config)} does not answer; pool leases and audit live there`);
          const sink = redis && redisUp ? sa.redisAuditList(redis, names) : () => undefined;
          const mapper = new sa.AccountMapper({ site: s, names, node: opts.node, audit: sink, redis: redisUp ? redis : undefined });
          const identity = { dn: opts.dn, caDn: opts.ca ?? "", vo: opts.vo, groups: opts.group, roles: opts.role };
          const x = await sa.explainAccess({ site: s, identity, job: opts.walltime !== undefined ? { walltimeSec: opts.walltime } : undefined, mapper, lease: opts.lease ? { audit: sink, node: opts.node } : undefined });
          const dn = opts.dn;
          const recent = opts.audit === 0 ? [] : redisUp && redis ? await recentAuditOf(redis, names, opts.audit, (r) => r.site === s.name && r.dn === dn) : `Redis at ${describeTarget("redis", config)} does not answer`;
          if (opts.json) printJson({ ...x, recentAudit: typeof recent === "string" ? [] : recent });
          else process.stdout.write(renderCheck(x, recent));
          if (!x.ok) process.exitCode = EXIT.failed;
        } finally {
          redis?.disconnect();
        }
      }),
    );
}
