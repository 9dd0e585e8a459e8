/** `etc-sim demo`: the lane controller against the embedded simulator (what `npm start` runs). */
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { tuneLaneProcess } from "../../../src/lane/process-tuning.js";
import { runDemo } from "../../demo/demo.js";
import { TEST_PUBLIC_KEY_PATH } from "../../status-list/bundle-builder.js";

/** The package root, from the sources or dist/ alike (the test key lives in <root>/config/keys). */
const ROOT = dirname(dirname(dirname(TEST_PUBLIC_KEY_PATH)));

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "run the real lane controller against the simulated RSU with a demo scenario and status list",
    )
    .option("--config <file>", "lane config", join(ROOT, "config/lane.example.yaml"))
    .option("--scenario <file>", "scenario", join(ROOT, "config/scenarios/demo.yaml"))
    .option("--data-dir <dir>", "keep the journal here (default: a temporary directory, removed afterwards)")
    .option("--verbose", "show barrier, display and alarm events")
    .action(async (o: { config: string; scenario: string; dataDir?: string; verbose?: boolean }) => {
      await tuneLaneProcess(); // the lane runs in this process, as under `etc-lane run`
      await runDemo({
        config: o.config,
        scenario: o.scenario,
        ...(o.dataDir ? { dataDir: o.dataDir } : {}),
        ...(o.verbose ? { verbose: true } : {}),
      });
    });
}
