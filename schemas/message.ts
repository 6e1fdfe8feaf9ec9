// TypeBox + Ajv: a TypeBox schema *is* a JSON Schema object, so one definition yields the static
// type (Static<>), the exported JSON Schema file and an Ajv-compiled validator with no translation
// layer; Ajv's compiled validators are the fastest in Node, which matters on the advert hot path.
//
// Compiling a schema is what costs (tens of ms each, a pilot needs several before its first advert),
// so the build compiles every message's validator ahead of time into dist/schemas/validators/
// (scripts/build-validators.mjs, Ajv's standalone code) and a process loads the one it needs with a
// synchronous require. Each file carries the digest of the schema it was made from; a missing or
// stale one (running the sources, a schema edited since the build) falls back to compiling here.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import type { Ajv, ErrorObject, ValidateFunction } from "ajv";
import { ERR } from "./error-codes.ts";
import { WmsError } from "./wms-error.ts";

export const SCHEMA_VERSION = 1 as const;
/** Every message carries this field; a reader refuses versions it does not know. */
export const SchemaVersion = Type.Literal(SCHEMA_VERSION, { description: "Schema version of this message" });

// Ajv and ajv-formats are CommonJS; required on first use, so a process whose validators were all
// compiled ahead of time never loads them.
const require = createRequire(import.meta.url);
let ajvInstance: Ajv | undefined;

/** The one Ajv instance, with the options the ahead-of-time compiler uses too (build-validators.mjs). */
export function messageAjv(extra: { code?: { source: boolean } } = {}): Ajv {
  const { Ajv: AjvClass } = require("ajv") as typeof import("ajv");
  const addFormats = require("ajv-formats") as (ajv: Ajv) => Ajv;
  return addFormats(new AjvClass({ allErrors: true, strict: false, useDefaults: true, ...extra }));
}

function ajv(): Ajv {
  return (ajvInstance ??= messageAjv());
}

/** The digest a precompiled validator is checked against: the schema as JSON (TypeBox's symbols are not part of it). */
export function schemaDigest(schema: TSchema): string {
  return createHash("sha256").update(JSON.stringify(schema)).digest("hex").slice(0, 32);
}

/** The file name a message's precompiled validator has (names are identifiers; anything else is not precompiled). */
export const PRECOMPILABLE_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

interface PrecompiledModule {
  readonly validate: ValidateFunction;
  readonly schemaDigest: string;
}

function precompiled(name: string, schema: TSchema): ValidateFunction | undefined {
  if (!PRECOMPILABLE_NAME.test(name)) return undefined;
  let mod: PrecompiledModule;
  try {
    mod = require(`./validators/${name}.cjs`) as PrecompiledModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") return undefined;
    throw e;
  }
  return mod.schemaDigest === schemaDigest(schema) ? mod.validate : undefined;
}

export interface Message<S extends TSchema> {
  readonly name: string;
  readonly schema: S;
  /** Returns the value typed, or throws WmsError E1001 naming the first bad fields. */
  parse(value: unknown): Static<S>;
  /** Parses JSON text then validates; bad JSON is E1001 too. */
  parseJson(text: string | Uint8Array): Static<S>;
  /** Non-throwing form: `undefined` when valid, else the readable problem. */
  problems(value: unknown): string | undefined;
}

/** `#/properties/kind/anyOf/1/const` → `#/properties/kind/anyOf`: the union a literal's branch belongs to. */
const UNION_BRANCH = /^(.*\/anyOf)\/\d+\/const$/;

/**
 * A union of literals (TypeBox's `Type.Union([Type.Literal("a"), ...])`, an enum) that the value
 * matched none of: Ajv reports every branch's `const` and then the `anyOf`; the reader wants the
 * allowed values in one line. Keyed by the anyOf's schema path; only unions whose every failed
 * branch is a literal (a union with an object branch keeps Ajv's own errors).
 */
function literalUnions(errors: readonly ErrorObject[]): Map<string, unknown[]> {
  const values = new Map<string, unknown[]>();
  for (const e of errors) {
    const union = UNION_BRANCH.exec(e.schemaPath)?.[1];
    if (union !== undefined && e.keyword === "const") values.set(union, [...(values.get(union) ?? []), e.params.allowedValue]);
  }
  for (const e of errors) for (const union of values.keys()) if (e.keyword !== "const" && e.schemaPath.startsWith(`${union}/`)) values.delete(union);
  return values;
}

/** `#/.../anyOf/2/properties/type/const` → the union, the branch and the property whose literal it is. */
const BRANCH_TAG = /^(.*\/anyOf)\/(\d+)\/properties\/([^/]+)\/const$/;
const IN_BRANCH = /^(.*\/anyOf)\/(\d+)\//;

/**
 * A union of objects told apart by a literal field (a site's `mapping: [{ type: pool, ... }]`):
 * Ajv reports every branch's problems, and the first three said were those of the branches the
 * value never meant ('is missing field file; type must be "gridmap"' for a pool with a typo). The
 * reader wants the problems of the branch its tag names: the others are dropped with the anyOf's
 * own line. A tag no branch has is one line with the tags there are.
 */
function taggedUnions(errors: readonly ErrorObject[]): ErrorObject[] {
  const tagFailed = new Map<string, Map<number, ErrorObject>>();
  const failedBranches = new Map<string, Set<number>>();
  for (const e of errors) {
    const inBranch = IN_BRANCH.exec(e.schemaPath);
    if (inBranch === null) continue;
    const [, union, n] = inBranch;
    failedBranches.set(union as string, (failedBranches.get(union as string) ?? new Set()).add(Number(n)));
    const tag = BRANCH_TAG.exec(e.schemaPath);
    if (tag !== null && e.keyword === "const") tagFailed.set(union as string, (tagFailed.get(union as string) ?? new Map()).set(Number(n), e));
  }
  if (tagFailed.size === 0) return [...errors];
  const drop = new Set<ErrorObject>();
  const extra: ErrorObject[] = [];
  for (const [union, failedTag] of tagFailed) {
    const branches = failedBranches.get(union) ?? new Set<number>();
    const meant = [...branches].filter((n) => !failedTag.has(n));
    const anyOf = errors.find((e) => e.keyword === "anyOf" && e.schemaPath === union);
    const ofBranch = (e: ErrorObject, n: number): boolean => e.schemaPath.startsWith(`${union}/${n}/`);
    if (meant.length > 0) {
      // The tag matched a branch: only that branch's problems are the value's.
      for (const e of errors) if ([...failedTag.keys()].some((n) => ofBranch(e, n))) drop.add(e);
      if (anyOf !== undefined) drop.add(anyOf);
    } else if (failedTag.size === branches.size) {
      // No branch has this tag: say which tags there are, once.
      const tags = [...failedTag.values()];
      const first = tags[0] as ErrorObject;
      for (const e of errors) if ([...branches].some((n) => ofBranch(e, n))) drop.add(e);
      if (anyOf !== undefined) drop.add(anyOf);
      extra.push({ ...first, keyword: "enum", schemaPath: union, params: { allowedValues: tags.map((t) => (t.params as { allowedValue: unknown }).allowedValue) } });
    }
  }
  return [...extra, ...errors.filter((e) => !drop.has(e))];
}

export function describeErrors(raw: ErrorObject[] | null | undefined): string {
  if (!raw || raw.length === 0) return "invalid";
  const errors = taggedUnions(raw);
  const unions = literalUnions(errors);
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const e of errors) {
    // A literal branch of a union is said once, with its siblings, where Ajv reports the anyOf.
    const branchOf = UNION_BRANCH.exec(e.schemaPath)?.[1];
    if (e.keyword === "const" && branchOf !== undefined && unions.has(branchOf)) continue;
    // A problem of the whole document (a missing or unknown top-level field) has an empty path.
    const where = e.instancePath === "" ? "" : ` ${e.instancePath}`;
    let what = e.message ?? "is invalid";
    const allowed = e.keyword === "anyOf" ? unions.get(e.schemaPath) : undefined;
    if (allowed !== undefined) what = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}`;
    else if (e.keyword === "additionalProperties") what = `has unknown field '${String(e.params.additionalProperty)}'`;
    else if (e.keyword === "required") what = `is missing field '${String(e.params.missingProperty)}'`;
    else if (e.keyword === "enum") what = `must be one of ${JSON.stringify(e.params.allowedValues)}`;
    else if (e.keyword === "const") what = `must be ${JSON.stringify(e.params.allowedValue)}`;
    const line = where === "" ? `the top level ${what}` : `field${where} ${what}`;
    if (!seen.has(line)) {
      seen.add(line);
      parts.push(line);
    }
    if (parts.length >= 3) break;
  }
  return parts.join("; ");
}

const decoder = new TextDecoder();

const DEFINED = new Map<string, TSchema>();

/** Every message defined so far in this process, by name: what the build compiles ahead of time. */
export function definedMessages(): ReadonlyMap<string, TSchema> {
  return DEFINED;
}

export function defineMessage<S extends TSchema>(name: string, schema: S): Message<S> {
  if (!DEFINED.has(name)) DEFINED.set(name, schema);
  let compiled: ValidateFunction | undefined;
  // A message embedded in another (MatchEnvelope in MatchReply, JobSpec in EnvelopeBody) is added
  // to Ajv under its $id when the outer one compiles first; compiling it again would throw.
  const id = (schema as { $id?: unknown }).$id;
  const validator = (): ValidateFunction =>
    (compiled ??= precompiled(name, schema) ?? (typeof id === "string" ? ajv().getSchema(id) : undefined) ?? ajv().compile(schema));
  const problems = (value: unknown): string | undefined => {
    const v = validator();
    return v(value) ? undefined : describeErrors(v.errors);
  };
  const parse = (value: unknown): Static<S> => {
    const p = problems(value);
    if (p !== undefined) throw new WmsError(ERR.BAD_INPUT, `${name}: ${p}`);
    return value as Static<S>;
  };
  return {
    name,
    schema,
    parse,
    problems,
    parseJson(text) {
      let value: unknown;
      try {
        value = JSON.parse(typeof text === "string" ? text : decoder.decode(text));
      } catch (e) {
        throw new WmsError(ERR.BAD_INPUT, `${name}: not valid JSON (${(e as Error).message})`);
      }
      return parse(value);
    },
  };
}
