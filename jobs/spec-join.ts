// A job's spec is stored in two parts (job-store.ts): its task's template (the fields every job of
// the task shares) and the job record's own fields. A claim puts them back together on the
// matchmaker's per-match path, so this is about what that costs.
import type { JobSpec } from "../schemas/index.ts";

/** Spec fields by name, as a template or a record's own part holds them. */
export type SpecFields = Partial<Record<keyof JobSpec, unknown>>;

/**
 * `{...template, ...own}` for a record's own fields as JSON (`own`) and its task template's JSON
 * text, in one JSON.parse: the same fields in the same order (a key of both keeps the template's
 * place and takes the record's value, as JSON.parse keeps the last of a repeated key). The merge
 * written out field by field cost 2.4 KB of heap a claim against 0.7 for this parse: an object that
 * gets properties by computed name falls into V8's dictionary mode.
 */
export function joinSpec(templateJson: string, own: string): JobSpec {
  if (templateJson === "{}" || templateJson === "") return JSON.parse(own || "{}") as JobSpec;
  if (own === "{}" || own === "") return JSON.parse(templateJson) as JobSpec;
  return JSON.parse(`${templateJson.slice(0, -1)},${own.slice(1)}`) as JobSpec;
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== "object" || Object.isFrozen(v)) return;
  for (const x of Object.values(v)) deepFreeze(x);
  Object.freeze(v);
}

/**
 * The specs of one task's claims, built from a template parsed once: a claim parses only the
 * record's own fields (its id, input files, site, seal: ~0.35 KB of heap) instead of the template
 * and those together (~1.5 KB, and three times the CPU). The spec is a copy of a prototype that
 * already has every field in the order `joinSpec` gives (the template's, then the record's own as
 * the first record held them), whose own fields are then overwritten: a copy of an object by
 * spread keeps its fast layout, and writing fields it has keeps it, where adding fields did not.
 *
 * The template's values (arguments, environment...) are shared by every spec of the task, so they
 * are frozen: a spec's top-level fields are its own (a claim writes its attempt), its nested
 * template values are not to be changed.
 */
export class SpecShape {
  private readonly prototype: SpecFields;
  /** The record's own fields the template lacks, in the order of the first record. */
  private readonly own: readonly string[];

  constructor(template: SpecFields, first: SpecFields) {
    // Through JSON: the prototype shares no object with the caller's template or record.
    this.prototype = joinSpec(JSON.stringify(template), JSON.stringify(first)) as SpecFields;
    for (const k of Object.keys(this.prototype)) deepFreeze(this.prototype[k as keyof JobSpec]);
    this.own = Object.keys(first).filter((k) => !(k in template));
  }

  /** The spec for a record's own fields, or undefined when they do not fit this task's (then use `joinSpec`). */
  join(own: SpecFields): JobSpec | undefined {
    // Every own field must be one the prototype has, those the template lacks in the same order and
    // all of them, or the spec's field order, or a field left from the prototype, would differ.
    let next = 0;
    for (const k in own) {
      if (k in this.prototype && !this.own.includes(k)) continue;
      if (this.own[next] !== k) return undefined;
      next++;
    }
    if (next !== this.own.length) return undefined;
    const spec: SpecFields = { ...this.prototype };
    for (const k in own) spec[k as keyof JobSpec] = own[k as keyof JobSpec];
    return spec as JobSpec;
  }
}
