// Preloaded into a spawned `wms` process (NODE_OPTIONS="--import <this file>") to give it a wall
// clock WMS_TEST_CLOCK_OFFSET_MS off the machine's: a node whose clock is minutes off, as NTP-less
// worker nodes are; with WMS_TEST_CLOCK_JUMP_MS, each SIGUSR2 the process gets moves its clock by
// that much at once (an NTP step, a VM restored). Only the wall clock moves; timers and
// performance.now() run as before, as they do on such a node.
import process from "node:process";

let offset = Number(process.env.WMS_TEST_CLOCK_OFFSET_MS ?? "0");
const jump = Number(process.env.WMS_TEST_CLOCK_JUMP_MS ?? "0");
if (Number.isFinite(jump) && jump !== 0) process.on("SIGUSR2", () => (offset += jump));
if ((Number.isFinite(offset) && offset !== 0) || jump !== 0) {
  const Real = Date;
  const realNow = Real.now.bind(Real);
  class SkewedDate extends Real {
    constructor(...args) {
      if (args.length === 0) super(realNow() + offset);
      else super(...args);
    }
    static now() {
      return realNow() + offset;
    }
  }
  globalThis.Date = SkewedDate;
}
