import { Type, type Static } from "@sinclair/typebox";
import { defineMessage, SchemaVersion } from "../message.ts";
import { FileRef, SiteName } from "./common.ts";

/** A dataset name as task batches name their inputs; no whitespace, so it sits safely in Redis keys and CLI args. */
export const DatasetName = Type.String({ minLength: 1, maxLength: 256, pattern: "^[^\\s]+$" });

/** One file as the catalog knows it, with the sites holding a replica. */
export const CatalogFileSchema = Type.Object(
  {
    lfn: FileRef.properties.lfn,
    size: FileRef.properties.size,
    adler32: FileRef.properties.adler32,
    md5: FileRef.properties.md5,
    sites: Type.Array(SiteName, { maxItems: 1000, default: [], description: "Sites holding a replica of this file" }),
  },
  { additionalProperties: false },
);
export type CatalogFile = Static<typeof CatalogFileSchema>;

/** The bulk-load file of `wms replica load`: datasets, their files and where each file lives. */
export const ReplicaCatalogSchema = Type.Object(
  {
    schemaVersion: SchemaVersion,
    datasets: Type.Array(
      Type.Object({ name: DatasetName, files: Type.Array(CatalogFileSchema, { maxItems: 1_000_000 }) }, { additionalProperties: false }),
      { maxItems: 100_000 },
    ),
  },
  { additionalProperties: false, $id: "ReplicaCatalog" },
);
export type ReplicaCatalog = Static<typeof ReplicaCatalogSchema>;
export const ReplicaCatalog = defineMessage("ReplicaCatalog", ReplicaCatalogSchema);
