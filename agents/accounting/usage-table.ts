// The table `wms accounting report` prints. Pure.
import type { Usage, UsageKind } from "./usage-store.ts";

const HEAD: Record<UsageKind, string> = { user: "USER DN", group: "GROUP", vo: "VO", site: "SITE" };

export function formatUsageTable(kind: UsageKind, rows: readonly Usage[]): string {
  const cells = rows.map((u) => [u.name, String(u.jobs), (u.wallSec / 3600).toFixed(3), (u.cpuSec / 3600).toFixed(3), String(u.maxRssKb)]);
  const header = [HEAD[kind], "JOBS", "WALL_H", "CPU_H", "MAX_RSS_KB"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  const out = [line(header), ...cells.map(line)];
  if (rows.length === 0) out.push(`(no usage recorded yet)`);
  else {
    const t = rows.reduce((a, u) => ({ jobs: a.jobs + u.jobs, wall: a.wall + u.wallSec, cpu: a.cpu + u.cpuSec, rss: Math.max(a.rss, u.maxRssKb) }), { jobs: 0, wall: 0, cpu: 0, rss: 0 });
    out.push(line(["TOTAL", String(t.jobs), (t.wall / 3600).toFixed(3), (t.cpu / 3600).toFixed(3), String(t.rss)]));
  }
  return out.join("\n") + "\n";
}
