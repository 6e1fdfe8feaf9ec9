// The identity switch as a PayloadLauncher: hands the payload to site-authz (gLExec's role), which
// authorizes again, maps the DN to a local account, gives the job dir to it, places the proxy
// readable by it alone, recreates the environment through a wrapper and starts it with that uid.
// The identity comes from the user's proxy itself, as gLExec takes it: never from the envelope alone.
import { closeSync } from "node:fs";
import { ERR, WmsError, type Site } from "../../schemas/index.ts";
import { splitPems, verifyChain, type TrustStore } from "../../security/index.ts";
import { startSwitched, type AccountMapper, type AuditSink } from "../../site-authz/index.ts";
import { openPayloadLogs, PROXY_FILE, type PayloadLauncher } from "./payload-launcher.ts";

export interface IdentitySwitchOptions {
  readonly site: Site;
  readonly trust: TrustStore;
  /** Needed unless the site's policy is `off`; site-authz refuses a `required` switch without one. */
  readonly mapper?: AccountMapper;
  /** Where site-authz's authz-decision and mapping-decision audit records go (the report publisher). */
  readonly audit: AuditSink;
}

/** Undefined for sites whose policy is `off`: those run payloads as the pilot (directLauncher). */
export function identitySwitchLauncher(o: IdentitySwitchOptions): PayloadLauncher | undefined {
  if (o.site.identitySwitch === "off") return undefined;
  return async (req) => {
    const identity = verifyChain(splitPems(req.proxyPem), o.trust);
    // MyProxy error 2400: the proxy must belong to the job's submitter.
    if (identity.dn !== req.submitterDn) {
      throw new WmsError(ERR.MYPROXY_DN_MISMATCH, `the retrieved proxy is ${identity.dn}, the job was submitted by ${req.submitterDn}; nothing was run`);
    }
    const [out, err] = openPayloadLogs(req.jobDir);
    try {
      const started = await startSwitched({
        site: req.site,
        identity,
        job: { jobId: req.job.jobId, walltimeSec: req.job.walltimeSec, attempt: req.job.attempt, leaseToken: req.lockToken },
        pilotId: req.pilotId,
        node: req.node,
        workdir: req.jobDir,
        command: req.job.executable,
        args: req.job.arguments,
        env: req.env,
        proxyPem: req.proxyPem,
        pilotSecretsDir: req.pilotSecretsDir,
        mapper: o.mapper,
        audit: o.audit,
        stdio: ["ignore", out, err],
        proxyFile: PROXY_FILE,
        // job-run.ts writes the identity-switch record itself, with the payload's exit status.
        auditSwitch: false,
      });
      return {
        child: started.child,
        localAccount: started.localAccount,
        replaceProxy: (pem) => started.replaceProxy(pem),
        cleanup: async () => {
          await started.cleanup();
        },
      };
    } finally {
      closeSync(out);
      closeSync(err);
    }
  };
}
