// The one YAML parse of the data files (config's data and wms.yaml, and the factory file that
// `wms factory set` edits in place), with its check that a map's keys are unique done here. The
// yaml library compares each key with every earlier key of its map (quadratic: a 30,000-key file
// took 18 s of CPU, a 4 MB one, under the size limit, about half an hour), so it is turned off and
// each map's scalar keys go through a set instead, refused with the library's own words and position.
// Pure: text in, document out (no I/O), so the pure factory-file editor may use it too.
import { isScalar, LineCounter, parseDocument, visit, type Document } from "yaml";

/** The parsed document, or throws the library's first error (or a duplicate key, in its words) with "at line L, column C:". */
export function parseYamlDocument(text: string): Document.Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter: lines });
  const [first] = doc.errors;
  if (first !== undefined) throw first;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        if (seen.has(key.value)) {
          const { line, col } = lines.linePos(key.range?.[0] ?? 0);
          throw new Error(`Map keys must be unique at line ${line}, column ${col}:`);
        }
        seen.add(key.value);
      }
    },
  });
  return doc;
}

/**
 * What `parseYamlDocument` threw, as one line: the library's first line ends "at line L, column C:",
 * introducing a source excerpt that a one-line error leaves out, so without its colon the line ends at the position.
 */
export function yamlErrorLine(e: unknown): string {
  return (e as Error).message.split("\n")[0].replace(/:\s*$/, "");
}
