/**
 * An empty ack is a legal answer to any RSU frame (the legacy acknowledgement rule, docs/protocol.md §5;
 * the RSU's own give-up text names it, sim/rsu/link.ts `answersFor`): to an OBU's B2..B5 or B8 in range it
 * ends that OBU's transaction and the RSU serves the next OBU (docs/simulator.md, "Modes and what each
 * lane frame gets"). Before, the RSU waited for the OBU to leave: no other OBU served, no legacy heartbeat.
 */
import { describe, expect, it } from "vitest";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { isHeartbeat } from "../../firmware-bridge/frames/catalogue.js";
import type { ReceivedFrame } from "../../firmware-bridge/link/frame-channel.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, until } from "./fake-time.js";
import { LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

/** Vehicle a long in the zone; b arrives while a's transaction goes on. */
const TWO: ScenarioInput = {
  name: "two",
  startTime: "2025-01-02T10:00:00+08:00",
  traffic: {
    vehicles: [
      { id: "a", plate: "湘A12345", class: 1, balance: 5000, entryStation: "0101", zoneMs: 8000, at: 0 },
      { id: "b", plate: "湘A12346", class: 1, balance: 5000, entryStation: "0101", zoneMs: 3000, at: 500 },
    ],
  },
};

async function setup(protocol: "legacy" | "national") {
  const pair = createTransportPair();
  const frameLog = memoryFrameLog();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    scenario: TWO,
    seed: 7,
    frameLog,
    timing: { heartbeatMs: 2000 },
    cable: pair,
  });
  const lane = new LaneDriver(pair.lane, protocol);
  await lane.open();
  await sim.start();
  const events: SimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  running.push({ sim, lane });
  return { sim, lane, frameLog, events };
}

type Step = "B2" | "B3" | "B4" | "B5" | "B8";

/** Walks the first OBU up to `step` (a B5 00 after a C6, a B8 00 after a C8 to it) and returns it. */
async function walkTo(lane: LaneDriver, step: Step): Promise<{ got: ReceivedFrame; obuId: string }> {
  await until(lane.init());
  let got: ReceivedFrame = await until(lane.expectFrame("B2"));
  const fields = () => got.frame as Frame & Record<string, unknown>;
  const obuId = fields().obuId as string;
  for (const [type, answer] of [
    ["B3", () => lane.c1(obuId)],
    ["B4", () => lane.c1(obuId)],
    ["B5", () => lane.c6(fields(), 100, "20250102100005")],
    ["B8", () => lane.c8(obuId, fields().iccPaySerial as number)],
  ] as const) {
    if (got.frame.type === step) break;
    await lane.send(answer() as Frame, got);
    got = await until(lane.expectFrame(type));
    expect(got.frame).toMatchObject({ obuId, errorCode: 0 });
  }
  return { got, obuId };
}

describe.each(["legacy", "national"] as const)("%s RSU: an empty ack to an OBU in range", (protocol) => {
  it.each([
    ["B2", "stopped"],
    ["B3", "stopped"],
    ["B4", "stopped"],
    ["B5", "traded"],
    ["B8", "traded"],
  ] as const)(
    "to its %s ends its transaction (%s); the next OBU is served, heartbeats go on",
    async (step, outcome) => {
      const { sim, lane, frameLog, events } = await setup(protocol);
      const { got, obuId } = await walkTo(lane, step);
      const leftA = next(sim.events$, (e) => e.type === "left" && e.obuId === obuId);
      await lane.send({ type: "ACK" }, got);
      // b, which arrived meanwhile, is searched for at once: its B2 (a's OBU is not offered again)
      const b2 = await until(lane.expectFrame("B2", 2000, (f) => f.obuId !== obuId));
      expect(events.filter((e) => e.type === "ended")).toMatchObject([
        { obuId, outcome, detail: `empty ack to ${step}` },
      ]);
      expect(frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "ACK").at(-1)?.handling).toBe(
        `acknowledges ${step}`,
      );
      await lane.send(lane.c2(b2.frame.obuId as string), b2);
      // with no OBU served, the legacy B2 heartbeat goes out again (national B1 goes out regardless)
      lane.drain();
      await until(lane.expectFrame("HB", 5000));
      await until(leftA);
      // a was never offered again while in the zone: its one B2, and its transaction ended once
      const b2sToA = lane.received.filter(
        (r) =>
          r.frame.type === "B2" &&
          !isHeartbeat(r.frame, protocol) &&
          (r.frame as { obuId?: string }).obuId === obuId,
      );
      expect(b2sToA).toHaveLength(1);
      expect(events.filter((e) => e.type === "ended" && e.obuId === obuId)).toHaveLength(1);
      expect(sim.vehicles().find((v) => v.obuId === obuId)?.outcome).toBe(outcome);
      expect(sim.ledger()).toHaveLength(step === "B5" || step === "B8" ? 1 : 0);
    },
  );
});
