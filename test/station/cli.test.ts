/**
 * `etc-sim station` (sim/cli/commands/station.ts) as docs/station-api.md, "The station simulator", has it
 * used: with only the main listener, a "down" fault with durationMs comes back by itself. The process runs
 * until SIGINT or SIGTERM, listening or not: the timer that ends the fault keeps no process alive
 * (sim/station/station.ts setFault).
 */
import { afterEach, describe, expect, it } from "vitest";
import { type Proc, spawnCli } from "../../sim/harness/procs.js";

let proc: Proc | undefined;
afterEach(async () => {
  await proc?.stop();
  proc = undefined;
});

describe("etc-sim station", () => {
  it('with only the main listener, "down" with durationMs comes back on the same port; SIGTERM ends it', async () => {
    const p = spawnCli("etc-sim", ["station", "--listen", "127.0.0.1:0"], {
      name: "station",
      env: { ETC_LOG_LEVEL: "warn" },
    });
    proc = p;
    const first = await p.waitLine((l) => /station simulator on /.test(l.text), 20_000, "listen line");
    const url = /on (http:\/\/\S+)/.exec(first.text)?.[1] ?? "";
    const down = await fetch(`${url}/admin/fault`, {
      method: "POST",
      body: JSON.stringify({ mode: "down", durationMs: 300 }),
    });
    expect(await down.json()).toEqual({ mode: "down" });
    const mode = () =>
      fetch(`${url}/admin/fault`).then(
        (r) => r.json(),
        () => "refused",
      );
    await expect.poll(mode, { timeout: 20_000 }).toEqual({ mode: "none", slowMs: 3000 });
    expect(p.running).toBe(true);
    p.child.kill("SIGTERM");
    expect(await p.exited).toEqual({ code: 0, signal: null });
  });
});
