import type { BenchSuite } from "./suite.ts";
import { schemasSuite } from "./schemas.ts";
import { classadSuite } from "./classad.ts";
import { matchmakerSuite } from "./matchmaker.ts";
import { intakeSuite } from "./intake.ts";
import { cryptoSuite } from "./crypto.ts";
import { siteAuthzSuite } from "./site-authz.ts";
import { factorySuite } from "./factory.ts";
import { reportsSuite } from "./reports.ts";
import { cliSuite } from "./cli.ts";
import { scaleSuite } from "./scale.ts";
import { jobsSuite } from "./jobs.ts";

/** Each issue adds its suite here; its key is the top-level key in the bench JSON. */
export const SUITES: readonly BenchSuite[] = [schemasSuite, matchmakerSuite, classadSuite, intakeSuite, cryptoSuite, siteAuthzSuite, factorySuite, reportsSuite, cliSuite, scaleSuite, jobsSuite];
