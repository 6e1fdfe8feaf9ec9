// `wms factory set --factory-file F`: the live knobs written back into the operator's file by
// editing only the text of the values that changed, so comments, their alignment, key order,
// blank lines and quoting stay as the operator wrote them (re-serialising a YAML document
// normalises all of that). Knobs the file does not spell yet are added as a line under the queue.
// Pure: text in, text out.
import { isMap, isScalar, isSeq, type Document, type Scalar, type YAMLMap } from "yaml";
import { parseYamlDocument, yamlErrorLine } from "../platform/yaml-document.ts";
import { ERR, WmsError } from "../schemas/index.ts";

/** Per queue name: knob → value to have in the file. */
export type QueueKnobValues = Readonly<Record<string, Readonly<Record<string, number | string>>>>;

interface Edit {
  readonly from: number;
  readonly to: number;
  readonly text: string;
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf("\n", at - 1) + 1;
}

function lineEnd(text: string, at: number): number {
  const nl = text.indexOf("\n", at);
  return nl < 0 ? text.length : nl;
}

/** Where a block mapping's pairs start (the column of its first key) and where its last value's line ends. */
function blockMapLayout(text: string, map: YAMLMap): { indent: string; endOfLast: number } | undefined {
  if (map.flow || map.items.length === 0) return undefined;
  const firstKey = map.items[0].key;
  const last = map.items[map.items.length - 1];
  const firstStart = isScalar(firstKey) ? firstKey.range?.[0] : undefined;
  const lastValue = last.value as { range?: [number, number, number] } | null;
  const lastEnd = lastValue?.range?.[1] ?? (isScalar(last.key) ? last.key.range?.[1] : undefined);
  if (firstStart === undefined || lastEnd === undefined) return undefined;
  const indent = " ".repeat(firstStart - lineStart(text, firstStart));
  return { indent, endOfLast: lineEnd(text, lastEnd) };
}

function renderValue(v: number | string): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v);
}

/** JSON files stay JSON (two-space indent). */
function editJson(text: string, file: string, values: QueueKnobValues): string {
  const data = JSON.parse(text) as { queues?: Array<Record<string, unknown>> };
  for (const [queue, knobs] of Object.entries(values)) {
    const q = data.queues?.find((x) => x.name === queue);
    if (!q) throw new WmsError(ERR.NOT_FOUND, `${file} has no queue '${queue}'`);
    Object.assign(q, knobs);
  }
  return JSON.stringify(data, null, 2) + "\n";
}

export function editFactoryFile(text: string, file: string, values: QueueKnobValues): string {
  if (text.trimStart().startsWith("{")) return editJson(text, file, values);
  // The data files' parse (keys checked unique in linear time; the library's own check is quadratic).
  let doc: Document.Parsed;
  try {
    doc = parseYamlDocument(text);
  } catch (e) {
    throw new WmsError(ERR.BAD_CONFIG, `${file}: not valid YAML (${yamlErrorLine(e)})`);
  }
  const queues = doc.get("queues", true);
  if (!isSeq(queues)) throw new WmsError(ERR.BAD_CONFIG, `${file}: no queues list`);
  const edits: Edit[] = [];
  for (const [queue, knobs] of Object.entries(values)) {
    const map = queues.items.find((item): item is YAMLMap => isMap(item) && item.get("name") === queue);
    if (!map) throw new WmsError(ERR.NOT_FOUND, `${file} has no queue '${queue}'`);
    const added: string[] = [];
    for (const [k, v] of Object.entries(knobs)) {
      const node = map.get(k, true) as Scalar | undefined;
      if (node !== undefined) {
        if (!isScalar(node) || !node.range) throw new WmsError(ERR.BAD_CONFIG, `${file}: queue ${queue}'s ${k} is not a plain value`);
        if (node.value === v) continue;
        edits.push({ from: node.range[0], to: node.range[1], text: renderValue(v) });
      } else {
        added.push(`${k}: ${renderValue(v)}`);
      }
    }
    if (added.length > 0) {
      const layout = blockMapLayout(text, map);
      if (!layout) throw new WmsError(ERR.BAD_CONFIG, `${file}: queue ${queue} is written inline; write it as a block (one key per line) to let \`factory set\` add ${added.join(", ")}`);
      edits.push({ from: layout.endOfLast, to: layout.endOfLast, text: added.map((line) => `\n${layout.indent}${line}`).join("") });
    }
  }
  let out = text;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}
