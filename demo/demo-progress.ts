// Live progress for `wms demo`: cli-progress bars on a terminal, periodic lines otherwise (so
// `--json` output and CI logs stay readable).
import cliProgress from "cli-progress";
import { STATE_GROUPS } from "../jobs/index.ts";
import type { DemoOutput } from "./demo-run.ts";

const GROUPS = STATE_GROUPS;

export function progressView(o: { json: boolean; tty: boolean }): DemoOutput {
  const line = (s: string): void => void process.stderr.write(s + "\n");
  if (o.json || !o.tty) {
    let last = 0;
    return {
      info: line,
      progress(counts, total) {
        if (Date.now() - last < 2000) return;
        last = Date.now();
        line(`progress: ${GROUPS.map(([name, states]) => `${name} ${states.reduce((n, s) => n + counts[s], 0)}`).join(", ")} of ${total}`);
      },
      done() {},
    };
  }
  const multi = new cliProgress.MultiBar(
    { format: " {name} |{bar}| {value}/{total}", hideCursor: true, clearOnComplete: false, stream: process.stderr, barsize: 40 },
    cliProgress.Presets.shades_classic,
  );
  let bars: Map<string, cliProgress.SingleBar> | undefined;
  return {
    info: (s) => (bars ? multi.log(s + "\n") : line(s)),
    progress(counts, total) {
      bars ??= new Map(GROUPS.map(([name]) => [name, multi.create(total, 0, { name: name.padEnd(8) })]));
      for (const [name, states] of GROUPS) bars.get(name)?.update(states.reduce((n, s) => n + counts[s], 0));
    },
    done() {
      multi.stop();
    },
  };
}
