// TypeBox + Ajv: a TypeBox schema *is* a JSON Schema object, so one definition yields the static
// type (Static<>), the exported JSON Schema file and an Ajv-compiled validator with no translation
// layer; Ajv's compiled validators are the fastest in Node, which matters on the advert hot path.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { ERR } from "./error-codes.ts";
import { WmsError } from "./wms-error.ts";

export const SCHEMA_VERSION = 1 as const;
/** Every message carries this field; a reader refuses versions it does not know. */
export const SchemaVersion = Type.Literal(SCHEMA_VERSION, { description: "Schema version of this message" });

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false, useDefaults: true }));

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

export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return "invalid";
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const e of errors) {
    const where = e.instancePath === "" ? "(message)" : e.instancePath;
    let what = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") what = `has unknown field '${String(e.params.additionalProperty)}'`;
    else if (e.keyword === "required") what = `is missing field '${String(e.params.missingProperty)}'`;
    else if (e.keyword === "enum") what = `must be one of ${JSON.stringify(e.params.allowedValues)}`;
    else if (e.keyword === "const") what = `must be ${JSON.stringify(e.params.allowedValue)}`;
    const line = `field ${where} ${what}`;
    if (!seen.has(line)) {
      seen.add(line);
      parts.push(line);
    }
    if (parts.length >= 3) break;
  }
  return parts.join("; ");
}

const decoder = new TextDecoder();

export function defineMessage<S extends TSchema>(name: string, schema: S): Message<S> {
  let compiled: ValidateFunction | undefined;
  // A message embedded in another (MatchEnvelope in MatchReply, JobSpec in EnvelopeBody) is added
  // to Ajv under its $id when the outer one compiles first; compiling it again would throw.
  const id = (schema as { $id?: unknown }).$id;
  const validator = (): ValidateFunction => (compiled ??= (typeof id === "string" ? ajv.getSchema(id) : undefined) ?? ajv.compile(schema));
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
