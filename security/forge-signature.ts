// The same RSA-SHA256 detached signature in node-forge, kept only as the benchmark's baseline for
// detached-signature.ts (node:crypto); signatures are interchangeable between the two.
import forge from "node-forge";

export function createForgeSigner(keyPem: string): { sign(text: string): string } {
  const key = forge.pki.privateKeyFromPem(keyPem);
  return {
    sign(text) {
      const md = forge.md.sha256.create();
      md.update(text, "utf8");
      return forge.util.encode64(key.sign(md));
    },
  };
}

export function createForgeVerifier(certPem: string): { verify(text: string, sigB64: string): boolean } {
  const key = forge.pki.certificateFromPem(certPem).publicKey as forge.pki.rsa.PublicKey;
  return {
    verify(text, sigB64) {
      const md = forge.md.sha256.create();
      md.update(text, "utf8");
      try {
        return key.verify(md.digest().bytes(), forge.util.decode64(sigB64));
      } catch {
        return false;
      }
    },
  };
}
