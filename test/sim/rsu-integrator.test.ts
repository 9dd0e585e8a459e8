/**
 * The simulator for an integrator whose lane is not ours: it says what is wrong instead of going
 * quiet (antenna never opened, B0 never answered), every "gave up" names what it waited for, and
 * `etc-sim rsu --help` shows a whole session.
 */
import { describe, expect, it, vi } from "vitest";
import { describeEvent } from "../../sim/cli/commands/rsu.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { runCli } from "../helpers/cli.js";
import { next, simulatorsOnFakeTime, startSimAndLane, until } from "./fake-time.js";
import { autoExitLane } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

const CAR: ScenarioInput = {
  startTime: "2025-01-02T10:00:00+08:00",
  traffic: { vehicles: [{ id: "car", plate: "湘A12345", balance: 5000, zoneMs: 4000 }] },
};

function setup(scenario: ScenarioInput = CAR) {
  return startSimAndLane(running, { protocol: "legacy", scenario, seed: 5, timing: { heartbeatMs: 60_000 } });
}

describe("the simulator tells an integrator what the lane under test does wrong", () => {
  it("a lane that initialises but never opens the antenna is told so, with the way out", async () => {
    const { sim, lane, frameLog } = await setup();
    const notice = next(sim.events$, (e) => e.type === "notice");
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    await lane.send({ type: "ACK" }, b0);
    const n = await until(notice);
    expect(n).toMatchObject({
      code: "antenna-closed",
      message: "antenna closed: vehicles wait for C4 01; scenario `rsu.antennaOnAtInit: true` starts without",
      at: expect.any(Number),
    });
    expect(describeEvent(n)).toMatch(
      /^\[\s+\d+\.\d{3}s\] notice: antenna closed: vehicles wait for C4 01; scenario `rsu.antennaOnAtInit: true` starts without$/,
    );
    // No vehicle was reached meanwhile; once the lane opens the antenna the car is served.
    expect(frameLog.records.filter((r) => r.dir === "tx" && r.frame?.type === "B2")).toEqual([]);
    await lane.send(lane.c4(true));
    expect((await until(lane.expectFrame("B2"))).frame.errorCode).toBe(0);
  });

  it("no notice when the antenna opens in time, or when nothing waits for it", async () => {
    const a = await setup();
    await until(a.lane.init());
    await until(next(a.sim.events$, (e) => e.type === "done"));
    const b = await setup({ name: "no traffic" });
    await b.lane.send(b.lane.c0());
    await b.lane.send({ type: "ACK" }, await until(b.lane.expectFrame("B0")));
    await vi.advanceTimersByTimeAsync(10_000);
    expect([...a.events, ...b.events].filter((e) => e.type === "notice")).toEqual([]);
  });

  it("a lane that never answers B0: the RSU gives up naming what it waited for, and carries on", async () => {
    const { sim, lane } = await setup();
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    const notice = next(sim.events$, (e) => e.type === "notice");
    await lane.send(lane.c0());
    await until(lane.expectFrame("B0"));
    const g = await until(gaveUp);
    expect(g).toMatchObject({ frame: "B0", waitedFor: "C1 or an empty ack (or a new C0)" });
    expect(describeEvent(g)).toMatch(
      /gave up on B0: no answer, waited for C1 or an empty ack \(or a new C0\)$/,
    );
    expect(await until(notice)).toMatchObject({
      code: "b0-unanswered",
      message:
        "the lane never answered B0 (expected C1 or an empty ack (or a new C0)); the RSU carries on as initialised, vehicles wait for C4 01",
    });
    // It still works: antenna on, the car is traded by a well-behaved lane.
    const stop = autoExitLane(lane, 700);
    await lane.send(lane.c4(true));
    await until(sim.done);
    stop();
    expect(sim.vehicles().map((v) => v.outcome)).toEqual(["traded"]);
  });

  it("every give-up line names the frame, the vehicle and the answers the RSU would have taken", async () => {
    const { sim, lane } = await setup();
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    expect(describeEvent(await until(gaveUp))).toMatch(
      new RegExp(`gave up on B2 for car: no answer, waited for C1 or C2 for OBU ${obuId}, or an empty ack$`),
    );
  });
});

describe("etc-sim rsu --help", () => {
  it("shows a complete session for a lane that is not ours", async () => {
    vi.useRealTimers();
    const r = await runCli("etc-sim", ["rsu", "--help"]);
    expect(r.code).toBe(0);
    for (const step of [
      "lane-port: /dev/pts/",
      "C0",
      "B0",
      "C4 01",
      "B2",
      "C6",
      "B5",
      "paid",
      "notice: antenna closed",
      "gave up on",
      "stopped:",
      "etc-sim tac verify --ledger",
    ])
      expect(r.stdout).toContain(step);
  });
});
