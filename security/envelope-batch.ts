// Batch signing of match envelopes: under load the matchmaker signs dozens of envelopes per event
// loop turn, and one ECDSA signature each was a fifth of its CPU. The envelopes of one turn become
// the leaves of a Merkle tree; the delegated key signs the root once, and each envelope carries its
// leaf index and the sibling hashes up to the root (RFC 6962's construction: leaves and inner
// nodes hashed with distinct prefixes, so a leaf can never pass for a node). A verifier folds the
// body up the path and checks the one signature; changing any byte of a body, the index, the size
// or a sibling gives another root and the signature fails.
import { hash } from "node:crypto";

/** What the signature covers when an envelope is one of a batch (never a valid envelope body). */
export const BATCH_DOMAIN = Buffer.from("pilot-wms envelope batch v1\0", "utf8");
const NODE = Buffer.from([1]);
/** A verifier refuses paths for batches larger than this (a tree of 2^20 leaves is 20 levels). */
export const MAX_BATCH = 1 << 20;

export interface BatchPosition {
  /** Leaves in the batch (at least 2: a lone envelope is signed directly). */
  readonly size: number;
  readonly index: number;
  /** Sibling hashes from the leaf up, base64; a level where the node had no sibling adds none. */
  readonly path: string[];
}

/** Bodies up to this many bytes are hashed from a scratch buffer kept for it (below). */
const SCRATCH_MAX = 64 * 1024;
let scratch = Buffer.alloc(4096);

// One-shot hash(): a Hash object per leaf and node cost more than the hashing itself on the
// matchmaker's hot path. The leaf prefix is the byte 0x00 followed by the body in UTF-8, written
// into a scratch buffer: hashing the string `\0${body}` made V8 copy the body flat once more (a
// kilobyte and a half of heap per envelope). hash() is synchronous, so the scratch is never shared.
function leafInput(body: string): Buffer | string {
  const n = 1 + Buffer.byteLength(body);
  if (n > SCRATCH_MAX) return `\0${body}`;
  if (n > scratch.length) scratch = Buffer.alloc(Math.min(SCRATCH_MAX, 2 * n));
  scratch[0] = 0;
  scratch.write(body, 1);
  return scratch.subarray(0, n);
}

export function leafHash(body: string): Buffer {
  return hash("sha256", leafInput(body), "buffer");
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return hash("sha256", Buffer.concat([NODE, left, right], 65), "buffer");
}

// The signer's tree is built on base64 text, the form its paths travel in: a digest Buffer per
// leaf and node, a concatenation per node and a base64 copy of each sibling per leaf and level
// cost about 1.9 KB of heap per envelope. A node's two children are decoded into one scratch
// buffer kept for it (synchronous, never shared).
const nodeScratch = Buffer.alloc(65);
nodeScratch[0] = NODE[0];

function leafHashText(body: string): string {
  return hash("sha256", leafInput(body), "base64");
}

/**
 * The leaf hash, base64, of a body written as bytes behind one byte left for the leaf's prefix
 * (`jsonBytes(body, 1)`): the prefix is written into that byte and the whole buffer hashed, with
 * no copy of the body.
 */
export function leafHashOfPrefixed(prefixed: Buffer): string {
  prefixed[0] = 0;
  return hash("sha256", prefixed, "base64");
}

function nodeHashText(left: string, right: string): string {
  nodeScratch.write(left, 1, "base64");
  nodeScratch.write(right, 33, "base64");
  return hash("sha256", nodeScratch, "base64");
}

/** The bytes the signature covers for a batch: the size is bound too, so no field of a position can be altered. */
export function batchSignedData(root: Buffer, size: number): Buffer {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(size, 0);
  return Buffer.concat([BATCH_DOMAIN, n, root]);
}

/** The root over `bodies` and each body's position in the tree. An odd node at a level is carried up unhashed. */
export function buildBatch(bodies: readonly string[]): { root: Buffer; positions: BatchPosition[] } {
  return batchOfLeaves(bodies.map(leafHashText));
}

/** `buildBatch` for the leaves' hashes (base64), when the bodies were hashed as they were written. */
export function batchOfLeaves(leaves: readonly string[]): { root: Buffer; positions: BatchPosition[] } {
  // Each node as base64, the text a path carries: a sibling shared by several leaves' paths is one string.
  let level = leaves;
  const paths: string[][] = leaves.map(() => []);
  // Which node of the current level holds each leaf.
  const at = leaves.map((_, i) => i);
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? nodeHashText(level[i], level[i + 1]) : level[i]);
    for (let leaf = 0; leaf < leaves.length; leaf++) {
      const pos = at[leaf];
      const sibling = pos ^ 1;
      if (sibling < level.length) paths[leaf].push(level[sibling]);
      at[leaf] = pos >> 1;
    }
    level = next;
  }
  return { root: Buffer.from(level[0], "base64"), positions: leaves.map((_, i) => ({ size: leaves.length, index: i, path: paths[i] })) };
}

/** The root `body` leads to along `position`, or undefined when the position cannot be a real one. */
export function rootFromPosition(body: string, position: BatchPosition): Buffer | undefined {
  const { size, index, path } = position;
  if (!Number.isInteger(size) || !Number.isInteger(index) || size < 2 || size > MAX_BATCH || index < 0 || index >= size) return undefined;
  let h = leafHash(body);
  let pos = index;
  let count = size;
  let k = 0;
  while (count > 1) {
    const sibling = pos ^ 1;
    if (sibling < count) {
      const s = path[k++];
      if (s === undefined) return undefined;
      const sib = Buffer.from(s, "base64");
      if (sib.length !== 32) return undefined;
      h = pos & 1 ? nodeHash(sib, h) : nodeHash(h, sib);
    }
    pos >>= 1;
    count = (count + 1) >> 1;
  }
  return k === path.length ? h : undefined;
}
