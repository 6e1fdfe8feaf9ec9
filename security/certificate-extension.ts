import type forge from "node-forge";

/** A certificate's extension by OID. (@types/node-forge types `id` as a number; forge takes the dotted string.) */
export function extensionById(cert: forge.pki.Certificate, oid: string): { critical?: boolean; value?: string } | null {
  const get = cert.getExtension as unknown as (o: { id: string }) => { critical?: boolean; value?: string } | null | undefined;
  return get.call(cert, { id: oid }) ?? null;
}
