/**
 * The variables of the factory's own environment a pilot inherits. An allowlist, not a copy: the
 * factory's environment can hold secrets (WMS_CREDENTIAL_KEY) that no pilot may see.
 */
export const PILOT_INHERITED_ENV: readonly string[] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME", "NODE_OPTIONS"];

export function pilotBaseEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PILOT_INHERITED_ENV) {
    const v = env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
