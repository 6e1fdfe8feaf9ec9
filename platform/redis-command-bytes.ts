// A Redis command's wire form (RESP: an array of bulk strings) written straight into one Buffer.
// ioredis builds it as a JavaScript string, one concatenation per piece: about 150 bytes of V8 heap
// per argument (a script call has 15 to 25), and Node then copies the whole string flat again to
// write it. On the matchmaker's connection that was an eighth of what a match allocated. A Buffer
// this size comes from Node's shared pool, outside the heap the garbage collector scans, and is
// written as it is.
const CRLF_0 = 13;
const CRLF_1 = 10;

function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes `prefix`, the decimal `n` and CRLF at `at`; returns where the next byte goes. */
function writeHeader(buf: Buffer, at: number, prefix: number, n: number): number {
  buf[at++] = prefix;
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  buf[end] = CRLF_0;
  buf[end + 1] = CRLF_1;
  return end + 2;
}

const STAR = 42;
const DOLLAR = 36;

/** `*<n+1>`, then `$<len>` and the bytes of the name and of each argument, as Redis reads a command. */
export function commandBytes(name: string, args: ReadonlyArray<string | Buffer>): Buffer {
  let size = 1 + digits(args.length + 1) + 2;
  const nameLen = Buffer.byteLength(name);
  size += 1 + digits(nameLen) + 2 + nameLen + 2;
  for (const a of args) {
    const len = typeof a === "string" ? Buffer.byteLength(a) : a.length;
    size += 1 + digits(len) + 2 + len + 2;
  }
  const buf = Buffer.allocUnsafe(size);
  let at = writeHeader(buf, 0, STAR, args.length + 1);
  at = writeHeader(buf, at, DOLLAR, nameLen);
  at += buf.write(name, at);
  buf[at++] = CRLF_0;
  buf[at++] = CRLF_1;
  for (const a of args) {
    if (typeof a === "string") {
      const len = Buffer.byteLength(a);
      at = writeHeader(buf, at, DOLLAR, len);
      at += buf.write(a, at);
    } else {
      at = writeHeader(buf, at, DOLLAR, a.length);
      at += a.copy(buf, at);
    }
    buf[at++] = CRLF_0;
    buf[at++] = CRLF_1;
  }
  return buf;
}
