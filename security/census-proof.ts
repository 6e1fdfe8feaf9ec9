// The proof a pilot's census carries that it comes from the pilot it names. Pilots share one NATS
// identity and read each other's match replies, so a pilot id is no secret; the pilot token is:
// the factory hands it to that one pilot (a 0600 file or its environment), and only matchmakers
// receive adverts. The proof is an HMAC under the token over the pilot id, so it names one pilot
// and reveals nothing of the token. The factory works it out at submission, while it holds the
// token, and keeps only a hash of it on the pilot's record (pilot-factory/pilot-census-store.ts).
import { createHmac } from "node:crypto";

const CONTEXT = "pilot-wms pilot-census v1\n";

/** The census proof of the pilot `pilotId` started with `token` (base64url, 43 characters). */
export function censusProof(token: string, pilotId: string): string {
  return createHmac("sha256", token).update(CONTEXT + pilotId).digest("base64url");
}
