/**
 * `etc-lane run` whose stdout reader goes away (src/cli/stdout-errors.ts): the console outputs (barrier,
 * light, display and alarm lines: `outputs.sink: console`) go to stdout, maybe into a display program. A
 * reader that dies must not end the lane: it says so once on stderr, trades on, and a SIGTERM still drains
 * and stops it with exit 0; the console is a failing output device from then on (OUTPUT_FAILED). The lane against the simulated RSU over a pty (sim/harness/procs.ts), from dist/.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import {
  isLaneOpenLine,
  ROOT,
  type RsuProc,
  spawnCli,
  startRsu,
  writeLaneConfig,
} from "../../sim/harness/procs.js";

let dir: string | undefined;
let rsu: RsuProc | undefined;
afterEach(async () => {
  await rsu?.proc.stop();
  rsu = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

// review (2026-12-07): the EPIPE handler meant for `etc-lane audit search | head` ended a running lane
// with exit 0 at its next console line, without its drain
it("a console reader that goes away: the lane says so on stderr, trades on, and drains on SIGTERM", async () => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-stdout-"));
  rsu = await startRsu({
    scenario: join(ROOT, "config/scenarios/basic.yaml"),
    seed: 3,
    ledger: join(dir, "ledger.jsonl"),
  });
  const config = writeLaneConfig({
    dir,
    rsuPort: rsu.lanePath,
    dataDir: join(dir, "data"),
    tariff: join(ROOT, "config/tariff.example.yaml"),
  });
  // the console sink; no status list is loaded here: trade unchecked (an alarm says so)
  writeFileSync(
    config,
    readFileSync(config, "utf8")
      .replace("outputs: { sink: log }", "outputs: { sink: console }")
      .replace("  allowTestKey: true", "  allowTestKey: true\n  whenMissing: trade"),
  );
  const lane = spawnCli("etc-lane", ["run", "--init", "--config", config], { name: "lane" });
  try {
    // the reader goes away before the lane writes its first console line
    lane.child.stdout?.destroy();
    const said = lane.waitLine(
      (l) => l.stream === "stderr" && l.text.includes("stdout failed"),
      30_000,
      "stdout failed",
    );
    await lane.waitLine(isLaneOpenLine, 30_000, "lane open");
    expect((await said).text).toContain("the lane trades on");
    expect(lane.running).toBe(true);
    lane.kill("SIGTERM");
    expect(await lane.exited).toEqual({ code: 0, signal: null });
    expect(
      lane.lines.some((l) => l.text.includes("stopping: the lane closes to new vehicles and drains")),
    ).toBe(true);
    expect(lane.lines.filter((l) => l.text.includes("stdout failed"))).toHaveLength(1);
    // the console is then a failing output device (src/outputs/console-outputs.ts consoleOutputs): the event whose
    // write failed is OUTPUT_FAILED when its write's callback comes (EPIPE: nothing more is written)
    expect(lane.lines.some((l) => l.stream === "stderr" && l.text.includes('"code":"OUTPUT_FAILED"'))).toBe(
      true,
    );
  } finally {
    await lane.stop();
  }
});
