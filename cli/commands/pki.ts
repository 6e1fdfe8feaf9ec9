import type { Command } from "commander";
import { action, parseIntOption, printJson } from "../command-kit.ts";
import { ERR, isWmsError, WmsError } from "../../schemas/index.ts";
import { isRevocationReason, REVOCATION_REASONS } from "../../security/revocation-reasons.ts";

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const REASONS = Object.keys(REVOCATION_REASONS);

export function registerPki(program: Command): void {
  const pki = program.command("pki").description("create the CA and issue user, pilot and service certificates (node-forge; VO, groups and roles in a CA-signed attribute extension)");

  pki
    .command("init")
    .description("create a CA in DIR (ca.pem, ca.key.pem) and certificates for the matchmaker, credential cache and intake (DIR/services/)")
    .requiredOption("--dir <dir>", "folder to create the PKI in; must not hold a CA yet")
    .option("--vo <name>", "the virtual organisation the CA serves", "pilot-wms")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; vo: string; json?: boolean }) => {
        const [{ initPki }, { makeFolder }] = await Promise.all([import("../../security/index.ts"), import("../../platform/make-folder.ts")]);
        makeFolder(opts.dir);
        const r = initPki(opts.dir, { vo: opts.vo });
        if (opts.json) return printJson(r);
        process.stdout.write(`CA ${r.caDn} (VO ${r.vo}) in ${r.dir}\n`);
        for (const s of r.services) process.stdout.write(`  ${s.name}: ${s.dn}\n    ${s.certPath}\n`);
      }),
    );

  pki
    .command("issue")
    .description("issue a certificate signed by the CA in DIR; writes PREFIX.cert.pem and PREFIX.key.pem (mode 0600)")
    .requiredOption("--dir <dir>", "the PKI folder made by 'wms pki init'")
    .requiredOption("--kind <kind>", "user, pilot or service")
    .requiredOption("--dn <dn>", "subject DN in slash form, e.g. '/DC=org/DC=pilot-wms/CN=Jane Doe'")
    .option("--role <role>", "a role to carry (repeatable), e.g. production, or operator (may retune the factory: wms factory set); pilots always get 'pilot', users 'user'", collect, [])
    .option("--group <group>", "a VO group to carry (repeatable), e.g. /atlas/prod", collect, [])
    .option("--vo <name>", "VO to carry (default: the CA's)")
    .option("--days <n>", "validity in days", parseIntOption("--days", 1), 365)
    .option("--out <prefix>", "output path prefix (default: DIR/issued/<CN>)")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; kind: string; dn: string; role: string[]; group: string[]; vo?: string; days: number; out?: string; json?: boolean }) => {
        if (opts.kind !== "user" && opts.kind !== "pilot" && opts.kind !== "service") throw new WmsError(ERR.USAGE, `--kind must be user, pilot or service, got '${opts.kind}'`);
        const { issueCertificate, parseDn } = await import("../../security/index.ts");
        // A DN that does not parse is the command line's fault (E1008, exit 2), as a bad --kind is.
        try {
          parseDn(opts.dn);
        } catch (e) {
          throw new WmsError(ERR.USAGE, `--dn: ${isWmsError(e) ? e.detail : (e as Error).message}`);
        }
        const { makeFolder } = await import("../../platform/make-folder.ts");
        const { writeFileSync } = await import("node:fs");
        const path = await import("node:path");
        const issued = issueCertificate({ caDir: opts.dir, kind: opts.kind, dn: opts.dn, vo: opts.vo, roles: opts.role, groups: opts.group, days: opts.days });
        const cn = /\/CN=([^/]+)$/.exec(opts.dn)?.[1] ?? "cert";
        const prefix = opts.out ?? path.join(opts.dir, "issued", cn.replace(/[^A-Za-z0-9._-]+/g, "_"));
        makeFolder(path.dirname(prefix));
        const certPath = `${prefix}.cert.pem`;
        const keyPath = `${prefix}.key.pem`;
        writeFileSync(certPath, issued.certPem, { mode: 0o644 });
        writeFileSync(keyPath, issued.keyPem, { mode: 0o600 });
        if (opts.json) return printJson({ dn: opts.dn, kind: opts.kind, certPath, keyPath });
        process.stdout.write(`issued ${opts.kind} certificate for ${opts.dn}\n  ${certPath}\n  ${keyPath}\n`);
      }),
    );

  pki
    .command("revoke")
    .description(
      "put a certificate on the CA's revocation list (DIR/ca.crl.pem, an X.509 v2 CRL signed by the CA); every service reading DIR refuses it " +
        "within a second, without a restart (E1715). Its proxies go with it",
    )
    .requiredOption("--dir <dir>", "the PKI folder made by 'wms pki init' (holds the CA key)")
    .option("--cert <pem>", "the certificate to revoke (PEM file)")
    .option("--serial <hex>", "or its serial number in hex, as 'openssl x509 -noout -serial' prints it")
    .option("--reason <reason>", `why (RFC 5280 CRLReason): ${REASONS.join(", ")}`, "unspecified")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; cert?: string; serial?: string; reason: string; json?: boolean }) => {
        if ((opts.cert === undefined) === (opts.serial === undefined)) throw new WmsError(ERR.USAGE, "give exactly one of --cert FILE or --serial HEX");
        if (!isRevocationReason(opts.reason)) throw new WmsError(ERR.USAGE, `--reason must be one of ${REASONS.join(", ")}, got '${opts.reason}'`);
        const { revokeCertificate } = await import("../../security/index.ts");
        let certPem: string | undefined;
        if (opts.cert !== undefined) {
          const { readFileSync } = await import("node:fs");
          try {
            certPem = readFileSync(opts.cert, "utf8");
          } catch (e) {
            throw new WmsError(ERR.FILE_UNREADABLE, `--cert ${opts.cert}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
          }
        }
        const r = revokeCertificate(opts.dir, { certPem, serialHex: opts.serial, reason: opts.reason });
        if (opts.json) return printJson({ ...r, reason: opts.reason });
        const who = r.subjectDn !== undefined ? `${r.subjectDn} (serial ${r.serialHex})` : `serial ${r.serialHex}`;
        process.stdout.write(`${r.alreadyRevoked ? "already revoked" : "revoked"}: ${who}; CRL #${r.crlNumber} lists ${r.revokedCount} certificate(s)\n  ${r.crlPath}\n`);
      }),
    );

  pki
    .command("crl")
    .description("list the certificates on the CA's revocation list (DIR/ca.crl.pem), after checking the CA signed it")
    .requiredOption("--dir <dir>", "the PKI folder")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; json?: boolean }) => {
        const { readRevocationList } = await import("../../security/index.ts");
        const list = readRevocationList(opts.dir);
        if (opts.json) return printJson(list);
        process.stdout.write(`CRL #${list.crlNumber} of ${list.issuerDn}: ${list.entries.length} revoked\n`);
        for (const e of list.entries) process.stdout.write(`  ${e.serialHex}  ${new Date(e.revokedAt).toISOString()}  ${e.reason}\n`);
      }),
    );

  pki
    .command("export")
    .description(
      "copy each named service's share of a PKI folder into a folder of its own (that service's pki.dir): the CA certificate and CRL, its own certificate and key, " +
        "the seal keys of its purposes; never the CA key or anyone else's key. An earlier export there is replaced (docker-compose.yml runs it at every start)",
    )
    .argument("<service=folder...>", "intake, matchmaker, credentials or agents, and the folder to write (empty, or an earlier export), e.g. matchmaker=/pki-matchmaker")
    .requiredOption("--dir <dir>", "the PKI folder made by 'wms pki init'")
    .option("--json", "print the files written as JSON")
    .action(
      action(async (targets: string[], opts: { dir: string; json?: boolean }) => {
        const [{ exportServicePki, PKI_EXPORT_ROLES }, { makeFolder }] = await Promise.all([import("../../security/index.ts"), import("../../platform/make-folder.ts")]);
        // Every argument checked before anything is written.
        const plan = targets.map((t) => {
          const eq = t.indexOf("=");
          const role = PKI_EXPORT_ROLES.find((r) => r === t.slice(0, Math.max(0, eq)));
          if (role === undefined || eq === t.length - 1) throw new WmsError(ERR.USAGE, `'${t}' must be SERVICE=FOLDER with SERVICE one of ${PKI_EXPORT_ROLES.join(", ")}`);
          return { role, out: t.slice(eq + 1) };
        });
        // makeFolder first: the export's recursive mkdir spun forever on a folder procfs refuses (intake=/proc/x).
        const done = plan.map(({ role, out }) => {
          makeFolder(out, 0o755);
          return { service: role, out, files: exportServicePki(opts.dir, role, out) };
        });
        if (opts.json) return printJson(done);
        for (const d of done) process.stdout.write(`${d.service}'s share of ${opts.dir} in ${d.out}: ${d.files.join(", ")}\n`);
      }),
    );

  pki
    .command("rotate-seal-key")
    .description("make a new current key for a seal (job-spec: intake to matchmaker; one-time-key: matchmaker to credential cache; audit-record: credential cache to agents; report-key: matchmaker to agents; heartbeat: the matchmakers' attempt heartbeat keys); the old one stays accepted as the previous, and services pick the change up without a restart (makes the key file in a PKI folder from before seal keys)")
    .requiredOption("--dir <dir>", "the PKI folder made by 'wms pki init'")
    .option("--purpose <purpose>", "job-spec, one-time-key, audit-record, report-key or heartbeat (default: all)")
    .option("--file <file>", "the key file, when the services are configured with one outside DIR/seals/")
    .option("--json", "print the result as JSON")
    .action(
      action(async (opts: { dir: string; purpose?: string; file?: string; json?: boolean }) => {
        const { createSealKeys, rotateSealKeys, sealKeysPath, SEAL_PURPOSES } = await import("../../security/index.ts");
        const { existsSync, readFileSync } = await import("node:fs");
        const all = Object.keys(SEAL_PURPOSES);
        if (opts.purpose !== undefined && !all.includes(opts.purpose)) throw new WmsError(ERR.USAGE, `--purpose must be ${all.join(" or ")}, got '${opts.purpose}'`);
        if (opts.file !== undefined && opts.purpose === undefined) throw new WmsError(ERR.USAGE, "--file names one purpose's key file: give --purpose too");
        const rotated = (opts.purpose === undefined ? all : [opts.purpose]).map((purpose) => {
          const file = opts.file ?? sealKeysPath(opts.dir, purpose);
          // A purpose newer than the PKI folder (audit-record, report-key, heartbeat) gets its first key.
          if (opts.file === undefined && !existsSync(file)) {
            createSealKeys(file, purpose);
            return { purpose, file, current: readFileSync(file, "utf8").split("\n").find((l) => l !== "" && !l.startsWith("#"))?.split(/\s+/)[0] ?? "", previous: "(none)" };
          }
          return { purpose, file, ...rotateSealKeys(file, purpose) };
        });
        if (opts.json) return printJson(rotated);
        for (const r of rotated) process.stdout.write(`${r.purpose}: now sealing with ${r.current}; ${r.previous === "" ? "a new key file" : `${r.previous} still accepted`} (${r.file})\n`);
      }),
    );
}
