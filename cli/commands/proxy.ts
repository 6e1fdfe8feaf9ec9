import type { Command } from "commander";
import { action, configFor, parseNumberOption, printJson, warn } from "../command-kit.ts";
import { connectNats } from "../nats-connection.ts";
import { readCredentialOptions } from "../credential-options.ts";
import { ERR, WmsError } from "../../schemas/index.ts";
import { USER_PROXY_DEFAULT_HOURS } from "../../security/proxy-certificate.ts";

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** myproxy-info's form: `167:57:52 (7.0 days)`. */
export function formatTimeLeft(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${h}:${two(m)}:${two(s)} (${(sec / 86400).toFixed(1)} days)`;
}

async function withClient<T>(cmd: Command, fn: (client: import("../../agents/credentials/index.ts").CredentialClient) => Promise<T>): Promise<T> {
  const { config, names } = configFor(cmd);
  const { loadTrust } = await import("../../security/index.ts");
  const { CredentialClient } = await import("../../agents/credentials/index.ts");
  const trust = loadTrust(config.pki.dir);
  const nc = await connectNats(config, "wms-proxy");
  try {
    return await fn(new CredentialClient(nc, names, { trust }));
  } finally {
    await nc.close();
  }
}

export function registerProxy(program: Command): void {
  const proxy = program.command("proxy").description("make RFC 3820 proxies, delegate them to the credential cache, show their info");

  proxy
    .command("init")
    .description(
      "delegate a proxy of your certificate to the credential cache with a retrieval policy, as myproxy-init does: the cache makes the key pair and sends a " +
        "certificate request, your key signs a proxy for it, and only certificates travel (your key stays here, the proxy's key stays in the cache). " +
        "As pathena did, it delegates only when the cache holds no proxy of yours, less than --min-left hours remain, or the policy changed",
    )
    .requiredOption("--cert <pem>", "your certificate (PEM; a chain file is fine)")
    .requiredOption("--key <pem>", "the key of --cert")
    .option("--lifetime <hours>", "lifetime of the new proxy in hours", parseNumberOption("--lifetime", 0.1), USER_PROXY_DEFAULT_HOURS)
    .option("--retriever <rule>", "who may retrieve it: a DN, or role:pilot for any pilot certificate of our CA (repeatable; default role:pilot)", collect, [])
    .option("--min-left <hours>", "delegate again when less than this remains in the cache", parseNumberOption("--min-left", 0), 12)
    .option("--out <file>", "also write a local proxy of the same lifetime here (a key pair of its own, not the delegated one; certificate, key, chain; mode 0600)")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { cert: string; key: string; lifetime: number; retriever: string[]; minLeft: number; out?: string; json?: boolean }, cmd: Command) => {
        const retrievers = opts.retriever.length > 0 ? opts.retriever : ["role:pilot"];
        for (const r of retrievers) if (r !== "role:pilot" && !r.startsWith("/")) throw new WmsError(ERR.USAGE, `--retriever '${r}' must be a DN in slash form or role:pilot`);
        if (opts.lifetime < opts.minLeft) throw new WmsError(ERR.USAGE, `--lifetime ${opts.lifetime}h is shorter than --min-left ${opts.minLeft}h; every run would delegate again`);
        const caller = await readCredentialOptions(opts.cert, opts.key);
        const { createProxy } = await import("../../security/index.ts");
        const { config } = configFor(cmd);
        const result = await withClient(cmd, async (client) => {
          const before = await client.info(caller);
          const samePolicy = before.retrievers !== undefined && [...before.retrievers].sort().join("\n") === [...retrievers].sort().join("\n");
          if (before.found && (before.timeLeftSec ?? 0) >= opts.minLeft * 3600 && samePolicy) {
            return { action: "kept" as const, userDn: before.username, timeLeftSec: before.timeLeftSec ?? 0, reason: `the cache holds a proxy with ${formatTimeLeft(before.timeLeftSec ?? 0)} left (>= ${opts.minLeft}h)` };
          }
          const reason = !before.found ? "the cache held no proxy" : !samePolicy ? "the retrieval policy changed" : `less than ${opts.minLeft}h remained`;
          const d = await client.delegate(caller, { retrievers, lifetimeSec: Math.round(opts.lifetime * 3600) });
          // A proxy cannot outlive the certificate that signs it (RFC 3820 path validation): when
          // that shortens the request, say so, as grid-proxy-init does, instead of cutting silently.
          const askedSec = Math.round(opts.lifetime * 3600);
          const gotSec = Math.floor((d.notAfter - Date.now()) / 1000);
          if (gotSec < askedSec - 60) {
            warn(`the proxy lives ${(gotSec / 3600).toFixed(1)} h, not the ${opts.lifetime} h asked for: your certificate ${d.userDn} expires at ${new Date(d.notAfter).toISOString()} and a proxy cannot outlive it`);
          }
          if (opts.out !== undefined) {
            // grid-proxy-init's local proxy, for commands run here; never the one the cache holds.
            const p = createProxy({ certPem: caller.certChain[0] as string, keyPem: caller.keyPem, chain: caller.certChain, lifetimeSec: askedSec, keyBits: config.credentials.proxyKeyBits });
            const { writeFileSync } = await import("node:fs");
            const [leaf, ...rest] = p.chain;
            writeFileSync(opts.out, [leaf, p.keyPem, ...rest].map((x) => (x ?? "").trim()).join("\n") + "\n", { mode: 0o600 });
          }
          return { action: "delegated" as const, userDn: d.userDn, timeLeftSec: gotSec, requestedSec: askedSec, reason };
        });
        if (opts.json) return printJson({ ...result, retrievers });
        if (result.action === "kept") process.stdout.write(`kept: ${result.reason}; nothing delegated\n`);
        else process.stdout.write(`delegated a new proxy for ${result.userDn} (${result.reason}); time left ${formatTimeLeft(result.timeLeftSec)}\n`);
      }),
    );

  proxy
    .command("info")
    .description("show your credential in the cache, as myproxy-info does: username (DN), owner, trusted retrieval policy, time left")
    .requiredOption("--cert <pem>", "your certificate (PEM) or proxy")
    .requiredOption("--key <pem>", "the key of --cert")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { cert: string; key: string; json?: boolean }, cmd: Command) => {
        const caller = await readCredentialOptions(opts.cert, opts.key);
        const info = await withClient(cmd, (client) => client.info(caller));
        if (opts.json) printJson(info);
        if (!info.found) throw new WmsError(ERR.CREDENTIAL_NOT_STORED, `none for ${info.username}`);
        if (opts.json) return;
        process.stdout.write(
          `username: ${info.username}\nowner: ${info.owner ?? ""}\n` +
            `trusted retrieval policy: ${(info.retrievers ?? []).join(", ")}\ntimeleft: ${formatTimeLeft(info.timeLeftSec ?? 0)}\n`,
        );
      }),
    );
}
