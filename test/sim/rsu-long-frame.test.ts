/**
 * A lane frame longer than its declaration: a legacy C3 with a 40-byte Station (63 bytes after the type
 * byte where the reference's C3 has 59, docs/protocol.md §3), which firmware built to the reference would
 * misread. By default the simulated RSU handles it as declared and reports the surplus; `strictLength`
 * ignores it as firmware with length checks would (docs/simulator.md "Modes and what each lane frame gets").
 */
import { describe, expect, it } from "vitest";
import { encodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import type { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { next, simulatorsOnFakeTime, startSimAndLane, until, walkToB4 } from "./fake-time.js";
import { type LaneDriver, swap } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

function setup(strictLength?: boolean) {
  return startSimAndLane(running, {
    protocol: "legacy",
    scenario: {
      name: "one",
      startTime: "2025-01-02T10:00:00+08:00",
      traffic: { vehicles: [{ id: "car", plate: "湘A12345", class: 1, balance: 5000, zoneMs: 4000 }] },
    },
    seed: 7,
    timing: { heartbeatMs: 60_000 },
    ...(strictLength !== undefined ? { strictLength } : {}),
  });
}

/** Walks to B4 and answers it with a C3 whose Station runs 4 bytes (the 0019 reserve) past the declared 36. */
async function longC3(lane: LaneDriver, pair: ReturnType<typeof createTransportPair>) {
  const { b4 } = await walkToB4(lane);
  const c6 = lane.c6(b4.frame, 0, "20250102100005") as Frame & Record<string, unknown>;
  const c3 = {
    type: "C3",
    obuId: c6.obuId,
    cardDivFactor: c6.cardDivFactor,
    transSerial: 0,
    purchaseTime: c6.purchaseTime,
    station: c6.station,
  } as Frame;
  const data = Buffer.concat([encodeData(c3, lane.dialect), Buffer.from("00000000", "hex")]);
  expect(data.length - 1).toBe(63);
  await pair.lane.write(encodeLegacy(swap(b4.wire.seq), data));
}

const SURPLUS =
  "C3 is 4 byte(s) longer than declared: 63 bytes after the type byte, declared 59; extra 00000000 not read";

describe("legacy RSU: a C3 longer than declared (a 40-byte Station)", () => {
  it("by default is traded as declared (B5 00) and reported: an illegal event and the frame log's handling name the surplus", async () => {
    const { pair, sim, lane, frameLog, events } = await setup();
    await longC3(lane, pair);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const handling = `handled as declared; but ${SURPLUS}`;
    expect(events.filter((e) => e.type === "illegal")).toMatchObject([{ frame: "C3", handling }]);
    const rx = frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "C3");
    expect(rx.map((r) => r.handling)).toEqual([handling]);
    expect(sim.cards()[0]?.file0019).toMatchObject({ station: "0201", reserved: "00000000" });
  });

  it("with strictLength is ignored as firmware with length checks would: no B5, B4 repeated and given up, the card untouched", async () => {
    const { pair, sim, lane, frameLog, events } = await setup(true);
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    await longC3(lane, pair);
    // the card as the B4 read it (the RSU has not touched it since)
    const before = sim.cards()[0];
    expect(before?.balance).toBe(5000);
    expect(await until(gaveUp)).toMatchObject({ frame: "B4" });
    const handling = `ignored: ${SURPLUS} (strict length)`;
    expect(events.filter((e) => e.type === "illegal")).toMatchObject([{ frame: "C3", handling }]);
    expect(
      frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "C3").map((r) => r.handling),
    ).toEqual([handling]);
    expect(lane.received.filter((r) => r.frame.type === "B5")).toEqual([]);
    expect(sim.ledger()).toEqual([]);
    expect(sim.cards()[0]).toEqual(before);
  });
});
