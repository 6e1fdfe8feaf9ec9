// Every integration test runs in a namespace of its own, so test files run in parallel against the
// one set of servers and clean up only what is theirs.
import { randomBytes } from "node:crypto";
import { loadConfig, type LoadedConfig } from "../../platform/config.ts";

export function uniqueNamespace(label: string): string {
  return `t${label.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 20)}${randomBytes(4).toString("hex")}`;
}

/** A config on the loopback services with a fresh namespace; env overrides still apply. */
export function testConfig(label: string): LoadedConfig {
  return loadConfig({ path: undefined, env: { ...(process.env as Record<string, string>), WMS_CONFIG: undefined, WMS_NAMESPACE: uniqueNamespace(label) } });
}
