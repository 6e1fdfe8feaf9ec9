// LCMAPS's VOMS module: a VO role maps to a group account (role=pilot → the pilot
// account). Pure. The identity's roles are tried in their order (the VOMS primary FQAN first).
import { roleName, type GridIdentity } from "./grid-identity.ts";

export function mapRole(roles: Readonly<Record<string, string>>, identity: GridIdentity): { role: string; account: string } | undefined {
  for (const r of identity.roles) {
    const role = roleName(r);
    const account = Object.hasOwn(roles, role) ? roles[role] : undefined;
    if (account !== undefined) return { role, account };
  }
  return undefined;
}
