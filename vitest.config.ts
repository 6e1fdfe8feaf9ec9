import { defineConfig } from "vitest/config";

// Tests talk to real NATS/Redis/RabbitMQ; each uses its own namespace so files run in parallel.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"],
  },
});
