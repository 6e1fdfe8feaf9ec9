import type { Command } from "commander";
import { action, configFor, parseListenHost, parsePortOption, serveUntilStopped, stopHint } from "../command-kit.ts";

export function registerMonitor(program: Command): void {
  program
    .command("monitor")
    .description("serve the read-only web dashboard, its JSON API and Prometheus metrics at /metrics")
    .option("--port <port>", "HTTP port", parsePortOption("--port"), 8080)
    .option("--host <host>", "address to listen on (loopback by default; the dashboard shows DNs)", parseListenHost("--host"), "127.0.0.1")
    .action(
      action(async (opts: { port: number; host: string }, cmd: Command) => {
        const { config, names } = configFor(cmd);
        const { connectRedis } = await import("../nats-connection.ts");
        const { startMonitor } = await import("../../agents/monitor/monitor-server.ts");
        const { defaultProviders } = await import("../../agents/monitor/monitor-providers.ts");
        const redis = await connectRedis(config);
        const monitor = await startMonitor({ redis, names, host: opts.host, port: opts.port, providers: await defaultProviders({ redis, names, config }) });
        process.stdout.write(`monitor on ${monitor.url} (JSON API under /api, metrics at /metrics); ${stopHint("Ctrl-C stops it")}\n`);
        await serveUntilStopped(async () => {
          await monitor.close();
          redis.disconnect();
        });
      }),
    );
}
