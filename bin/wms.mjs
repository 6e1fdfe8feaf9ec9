#!/usr/bin/env node
// The `wms` entry point. tsx's loader lets the TypeScript sources run as they are, so a fresh
// `npm ci` needs no build step before `npx wms` works.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
