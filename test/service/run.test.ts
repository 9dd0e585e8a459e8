/**
 * `etc-lane run` serves its lane (src/cli/commands/run.ts, src/service/serve-lane.ts): the lane process
 * against the simulated RSU over a pty (sim/harness/procs.ts), its page and endpoints answer, `etc-lane
 * status` and `status-list import --config` reach it through its control socket, it closes the service
 * and the lane on SIGTERM, and the trail it leaves verifies with the journal and names the operator.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import {
  parseLogLine,
  ROOT,
  type RsuProc,
  startLane,
  startRsu,
  writeLaneConfig,
} from "../../sim/harness/procs.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { bundleFile } from "../status-list/helpers.js";

const CARD = "43010000000000009001"; // the one card the bundles list

/** `etc-lane ARGS` as a child process (the built CLI): exit code and output. */
function etcLane(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "dist/src/cli/etc-lane.js"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

it("etc-lane run serves its lane: page, /health, status and an import through the socket; closed on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "etc-run-svc-"));
  let rsu: RsuProc | undefined;
  try {
    const dataDir = join(dir, "data");
    rsu = await startRsu({
      scenario: join(ROOT, "config/scenarios/demo.yaml"),
      seed: 3,
      ledger: join(dir, "ledger.jsonl"),
    });
    const config = writeLaneConfig({
      dir,
      rsuPort: rsu.lanePath,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
    });
    // a list before the lane's first start: refused without --init (a mistyped dataDir would look the
    // same), nothing created; with it, the data directory is created and the list applied under its lock
    const full0 = bundleFile(dir, CARD, "full", "202507160000");
    const refused = etcLane(["status-list", "import", full0, "--config", config]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`no data directory ${dataDir}`);
    expect(refused.err).toContain("give --init");
    expect(existsSync(dataDir)).toBe(false);
    const full = etcLane(["status-list", "import", full0, "--init", "--config", config]);
    expect(full.code).toBe(0);
    expect(full.err).toMatch(/no lane has run in .* yet/);
    expect(full.err).toContain(`created the data directory ${dataDir} (mode 0700)`);

    const lane = startLane(config, "lane", { init: true }); // the import made dataDir, with no journal yet
    // the harness keeps only the lane's warnings and status lines: wait for this one from the start
    const runningLine = lane.proc.waitLine(
      (l) => l.text.includes('"lane controller running"'),
      30_000,
      "lane controller running",
    );
    await lane.opened;
    const running = await runningLine;
    const page = String(parseLogLine(running.text)?.page);
    expect(page).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const health = await fetch(new URL("health", page));
    expect(health.status).toBe(200);
    expect(await (await fetch(page)).text()).toContain("开放");

    const status = etcLane(["status", "--config", config, "--json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({
      state: { status: "open", canTrade: true },
      statusList: { versions: { full: "202507160000" } },
    });
    const delta = etcLane([
      "status-list",
      "import",
      bundleFile(dir, CARD, "delta", "202507160005", "202507160000"),
      "--config",
      config,
    ]);
    expect(delta.code).toBe(0);
    expect(delta.out).toMatch(/status-list delta 202507160005 applied .*\[lane\]/);

    await lane.proc.stop();
    expect(await lane.proc.exited).toMatchObject({ code: 0 });
    const verify = etcLane(["audit", "verify", "--config", config]);
    expect(verify.out).toMatch(/OK: the trail is intact/);
    expect(verify.code).toBe(0);
    const ops = [...readTrail(auditDir(dataDir))]
      .map((x) => x.entry)
      .filter((e) => e.type === "operator.status-list.import");
    expect(ops.map((e) => (e.data as { via: string; ok: boolean }).via)).toEqual(["socket"]);
  } finally {
    await rsu?.stop();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}, 120_000);
