// Who may do what at the intake, pure: the decisions on a verified identity (security/ checked the
// chain and the signature before this runs). Production tasks need the production role;
// any user may run their own analysis; only a task's owner or the production role of the task's VO
// may cancel or retry it (a user cancelling another user's task is refused).
import { ERR, WmsError, type TaskBatch } from "../schemas/index.ts";
import type { TaskRecord } from "../jobs/index.ts";

/** The parts of a verified identity these decisions read (security's VerifiedIdentity has them). */
export interface IntakeIdentity {
  readonly dn: string;
  readonly kind: string;
  readonly vo: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
}

export const PRODUCTION_ROLE = "production";

function isProductionManager(id: IntakeIdentity, vo: string): boolean {
  return id.roles.includes(PRODUCTION_ROLE) && id.vo === vo;
}

/** Throws INTAKE_ROLE_REFUSED unless `id` may submit `batch`. */
export function authorizeSubmit(batch: TaskBatch, id: IntakeIdentity): void {
  // Pilots and services hold certificates of our CA too; only people submit work.
  if (id.kind !== "user") throw new WmsError(ERR.INTAKE_ROLE_REFUSED, `a ${id.kind} certificate (${id.dn}) cannot submit tasks; sign with a user certificate or a proxy of one`);
  if (id.vo !== batch.vo) throw new WmsError(ERR.INTAKE_ROLE_REFUSED, `the task is for VO '${batch.vo}' but ${id.dn} belongs to VO '${id.vo}'`);
  if (batch.group !== "" && !id.groups.includes(batch.group)) {
    throw new WmsError(ERR.INTAKE_ROLE_REFUSED, `the task is for group '${batch.group}' but ${id.dn} is in groups [${id.groups.join(", ")}]`);
  }
  if (batch.kind === "production" && !isProductionManager(id, batch.vo)) {
    throw new WmsError(ERR.INTAKE_ROLE_REFUSED, `production tasks need the '${PRODUCTION_ROLE}' role; ${id.dn} has roles [${id.roles.join(", ")}]: submit it as kind 'analysis' or ask the VO for the role`);
  }
}

/** Throws INTAKE_NOT_OWNER unless `id` owns the task or is a production manager of its VO. */
export function authorizeTaskControl(task: TaskRecord, id: IntakeIdentity, action: string): void {
  if (id.kind === "user" && (id.dn === task.ownerDn || isProductionManager(id, task.vo))) return;
  throw new WmsError(ERR.INTAKE_NOT_OWNER, `${id.dn} may not ${action} task ${task.taskId}: it belongs to ${task.ownerDn}`);
}
