import { ERR, type AuthzPlugin } from "../schemas/index.ts";
import type { CompiledPlugin } from "./authz-step.ts";

type WalltimePlugin = Extract<AuthzPlugin, { type: "walltime" }>;

/** Key `*` in `limits` applies to VOs without a limit of their own (and to identities without a VO). */
export const ANY_VO = "*";

/** LCAS's wall-time module: a job may not ask for more than its VO's limit (seconds). */
export function compileWalltime(p: WalltimePlugin): CompiledPlugin {
  const limits = new Map(Object.entries(p.limits));
  return (identity, _dn, job) => {
    const vo = identity.vo;
    const limit = (vo !== undefined ? limits.get(vo) : undefined) ?? limits.get(ANY_VO);
    if (limit === undefined) return { plugin: "walltime", allowed: true, reason: `no walltime limit for VO ${vo ?? "(none)"}` };
    if (job?.walltimeSec === undefined) return { plugin: "walltime", allowed: true, reason: `no job walltime to check (limit ${limit} s)` };
    if (job.walltimeSec > limit) {
      return { plugin: "walltime", allowed: false, code: ERR.AUTHZ_WALLTIME_LIMIT, reason: `walltime ${job.walltimeSec} s exceeds the limit of ${limit} s for VO ${vo ?? "(none)"}; ask for less` };
    }
    return { plugin: "walltime", allowed: true, reason: `walltime ${job.walltimeSec} s within the limit of ${limit} s` };
  };
}
