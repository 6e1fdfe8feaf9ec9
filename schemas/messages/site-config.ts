import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { Dn, SiteName } from "./common.ts";

// A field of a union's branch is Optional, its default applied where it is read: Ajv fills in
// `default` only outside anyOf (its useDefaults skips anyOf, whose branch it cannot know), so a
// required field "with a default" was simply required ('pool' without leaseSec was refused).

/** LCAS-style authorization plug-ins; a site's decision is the AND of its chain. */
export const AuthzPluginSchema = Type.Union([
  Type.Object({ type: Type.Literal("ban-list"), dns: Type.Optional(Type.Array(Dn, { description: "default none" })), cas: Type.Optional(Type.Array(Dn, { description: "default none" })) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal("allow-list"), dns: Type.Optional(Type.Array(Dn, { description: "default none" })), cas: Type.Optional(Type.Array(Dn, { description: "default none" })) }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal("vo"), vos: Type.Array(Type.String()), groups: Type.Optional(Type.Array(Type.String())), roles: Type.Optional(Type.Array(Type.String())) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal("walltime"), limits: Type.Record(Type.String(), Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
]);
export type AuthzPlugin = Static<typeof AuthzPluginSchema>;

/** How long a DN keeps a pool account when the site's `pool` plug-in names no `leaseSec`: a day. */
export const DEFAULT_POOL_LEASE_SEC = 86_400;

/** LCMAPS-style mapping plug-ins, tried in order; the first that maps wins. */
export const MappingPluginSchema = Type.Union([
  Type.Object({ type: Type.Literal("gridmap"), file: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal("role"), roles: Type.Record(Type.String(), Type.String()) }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal("pool"), accounts: Type.Array(Type.String({ pattern: "^[a-z_][a-z0-9_-]*$" }), { minItems: 1 }), leaseSec: Type.Optional(Type.Integer({ minimum: 1, description: `default ${DEFAULT_POOL_LEASE_SEC} (a day)` })) },
    { additionalProperties: false },
  ),
]);
export type MappingPlugin = Static<typeof MappingPluginSchema>;

export const SiteSchema = Type.Object(
  {
    name: SiteName,
    storagePath: Type.String({ minLength: 1, description: "Directory holding the site's files (the site storage element)" }),
    online: Type.Boolean({ default: true }),
    identitySwitch: Type.Union([Type.Literal("required"), Type.Literal("optional"), Type.Literal("off")], { default: "off" }),
    capacity: Type.Integer({ minimum: 1, default: 100, description: "Job slots; brokerage spreads load in proportion" }),
    softwareTags: Type.Array(Type.String(), { default: [] }),
    authz: Type.Array(AuthzPluginSchema, { default: [] }),
    mapping: Type.Array(MappingPluginSchema, { default: [] }),
  },
  { additionalProperties: false },
);
export type Site = Static<typeof SiteSchema>;

export const SiteConfigSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    sites: Type.Array(SiteSchema, { maxItems: 10000 }),
  },
  { additionalProperties: false, $id: "SiteConfig" },
);
export type SiteConfig = Static<typeof SiteConfigSchema>;
export const SiteConfig = defineMessage("SiteConfig", SiteConfigSchema);
