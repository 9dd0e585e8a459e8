/** `etc-sim demo`: the lane controller against the embedded simulator (what `npm start` runs). */
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../../src/cli/run-cli.js";
import { tuneLaneProcess } from "../../../src/lane/process-tuning.js";
import { runDemo } from "../../demo/demo.js";
import { TEST_PUBLIC_KEY_PATH } from "../../status-list/bundle-builder.js";

/** The package root, from the sources or dist/ alike (the test key lives in <root>/config/keys). */
const ROOT = dirname(dirname(dirname(TEST_PUBLIC_KEY_PATH)));

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "run the real lane controller and its booth against the simulated RSU and card reader with a demo scenario and status list",
    )
    .option("--config <file>", "lane config", join(ROOT, "config/lane.example.yaml"))
    .option("--scenario <file>", "scenario", join(ROOT, "config/scenarios/demo.yaml"))
    .option("--data-dir <dir>", "keep the journal here (default: a temporary directory, removed afterwards)")
    .option(
      "--verbose",
      "show barrier, display, alarm and booth events and the simulated collector's actions",
    )
    .option("--no-serve", "no status service and maintenance page")
    .option(
      "--stay",
      "after the scenario keep the lane and its maintenance page running until Ctrl-C (default on a terminal; not with --no-serve)",
    )
    .option("--no-stay", "end after the scenario")
    .action(
      async (o: {
        config: string;
        scenario: string;
        dataDir?: string;
        verbose?: boolean;
        serve: boolean;
        stay?: boolean;
      }) => {
        // Staying keeps the lane and its maintenance page up after the scenario (docs/simulator.md): without
        // the page there is nothing to stay for, so asking for both is refused rather than ignored.
        if (o.stay === true && !o.serve)
          throw new UsageError(
            "--stay keeps the lane and its maintenance page running after the scenario, and --no-serve turns the page off: give one of them",
          );
        // Ctrl-C (or SIGTERM) ends the demo in order at any time, the scenario cut short where it is, with
        // the summary and the temporary data directory removed; a second one ends it at once
        const signals = takeDemoSignals();
        try {
          // the lane runs in this process, as under `etc-lane run`: a tuning that fails is said, the demo goes on
          await tuneLaneProcess().catch((e: unknown) =>
            process.stderr.write(
              `etc-sim: lane process tuning failed, the demo runs untuned: ${e instanceof Error ? e.message : String(e)}\n`,
            ),
          );
          // on a terminal the demo stays by default, when it serves the page
          const stay = o.serve && (o.stay ?? (process.stdout.isTTY === true && process.stdin.isTTY === true));
          await runDemo({
            config: o.config,
            scenario: o.scenario,
            ...(o.dataDir ? { dataDir: o.dataDir } : {}),
            ...(o.verbose ? { verbose: true } : {}),
            serve: o.serve,
            stop: signals.stopped,
            ...(stay ? { stayUntil: signals.stopped } : {}),
          });
        } finally {
          signals.dispose();
        }
      },
    );
}

/**
 * A repeat of the first signal within this time is that signal again, not a second one: under `npm start`
 * (package.json's `exec node ...`: the demo is npm's child) a Ctrl-C on the terminal, or a `kill %1` of
 * the job, reaches the demo twice, from the terminal (or shell) and passed on by npm, which passes on
 * every SIGINT and SIGTERM it gets to its child.
 */
export const SAME_SIGNAL_MS = 300;

/**
 * SIGINT and SIGTERM for the whole demo (Node's default action would end it with its temporary data
 * directory left behind): the first resolves `stopped`; another one ends the process at once, with the
 * exit status of that signal, by process.exit, on which runDemo still removes the directory. The first
 * signal again within SAME_SIGNAL_MS is not another one.
 */
export function takeDemoSignals(
  o: {
    /** where the signals come from, and how the process ends at once (tests give their own) */
    signals?: Pick<NodeJS.EventEmitter, "on" | "off">;
    exit?: (code: number) => void;
    now?: () => number;
  } = {},
): { stopped: Promise<void>; dispose(): void } {
  const signals = o.signals ?? process;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const now = o.now ?? Date.now;
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => {
    resolve = r;
  });
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!first) {
      first = { signal, at: now() };
      resolve();
      return;
    }
    if (signal === first.signal && now() - first.at < SAME_SIGNAL_MS) return;
    process.stderr.write(`etc-sim: ${signal} again: the demo ends at once\n`);
    exit(signal === "SIGINT" ? 130 : 143);
  };
  signals.on("SIGINT", onSignal);
  signals.on("SIGTERM", onSignal);
  return {
    stopped,
    dispose() {
      signals.off("SIGINT", onSignal);
      signals.off("SIGTERM", onSignal);
    },
  };
}
