/**
 * An empty ack carries no content: its RSCTL/SEQ is all that says which frame it acknowledges. The
 * simulated RSU ends an OBU's B2..B5 or B8 on an ack only under that frame's reply RSCTL/SEQ
 * (sim/rsu/link.ts `answers`); an ack to an earlier frame is logged as answering nothing and ignored
 * (docs/simulator.md "Sequence numbers"). Before, any ack answered whatever was pending, so a doubled ack
 * to a B0 (the link's automatic one and the controller's) or a late one to a frame the RSU gave up on
 * ended the next OBU as `stopped` ("empty ack to B2") and the lane's C1 to it was ignored.
 */
import { describe, expect, it } from "vitest";
import type { ReceivedFrame } from "../../firmware-bridge/link/frame-channel.js";
import type { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, startSimAndLane, until, VEHICLE_A } from "./fake-time.js";
import { swap } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

/** a in the zone from the start; b arrives later (the give-up case serves it after a). */
function scenario(withB: boolean): ScenarioInput {
  const a = VEHICLE_A;
  const b = { ...a, id: "b", plate: "湘A12346", zoneMs: 8000, at: 100 };
  return {
    name: "stray-ack",
    startTime: "2025-01-02T10:00:00+08:00",
    rsu: { antennaOnAtInit: true },
    traffic: { vehicles: withB ? [a, b] : [a] },
  };
}

function setup(protocol: "legacy" | "national", withB = false) {
  return startSimAndLane(running, {
    protocol,
    scenario: scenario(withB),
    seed: 7,
    timing: { heartbeatMs: 60_000 },
  });
}

const hex2 = (n: number): string => n.toString(16).padStart(2, "0");
const ackHandlings = (frameLog: ReturnType<typeof memoryFrameLog>): (string | undefined)[] =>
  frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "ACK").map((r) => r.handling);

/** The ack to `to`, arriving while `pending` awaits its answer: ignored, the frame log says why. */
function strayAckLine(protocol: "legacy" | "national", to: ReceivedFrame, pending: ReceivedFrame): string {
  const name = protocol === "legacy" ? "RSCTL" : "SEQ";
  return `ignored: empty ack under ${name} ${hex2(swap(to.wire.seq))} answers no pending frame (${pending.frame.type} awaits one under ${hex2(swap(pending.wire.seq))})`;
}

describe.each(["legacy", "national"] as const)("%s RSU: an empty ack to an earlier frame", (protocol) => {
  it("a second ack to the B0 (the link's automatic one, then the controller's) does not end the OBU whose B2 is pending", async () => {
    const { sim, lane, frameLog, events } = await setup(protocol);
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    await lane.send({ type: "ACK" }, b0);
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send({ type: "ACK" }, b0);
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c1(obuId), b2);
    const b3 = await until(lane.expectFrame("B3", 2000));
    expect(b3.frame).toMatchObject({ obuId, errorCode: 0 });
    expect(ackHandlings(frameLog)).toEqual(["acknowledges B0", strayAckLine(protocol, b0, b2)]);
    expect(events.filter((e) => e.type === "ended")).toEqual([]);
    expect(sim.vehicles().find((v) => v.obuId === obuId)?.outcome).toBeUndefined();
  });

  it("a late ack to a B0 the RSU gave up on does not end the OBU whose B2 is pending", async () => {
    const { lane, frameLog, events } = await setup(protocol);
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    // the B0 goes unanswered: repeated, given up, then the RSU searches (antenna on at init)
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send({ type: "ACK" }, b0);
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c1(obuId), b2);
    await until(lane.expectFrame("B3", 2000));
    expect(ackHandlings(frameLog)).toEqual([strayAckLine(protocol, b0, b2)]);
    expect(events.filter((e) => e.type === "ended")).toEqual([]);
  });

  it("a late ack to an OBU's B2 the RSU gave up on does not end the next OBU's B2", async () => {
    const { sim, lane, frameLog, events } = await setup(protocol, true);
    await until(lane.init());
    const b2a = await until(lane.expectFrame("B2"));
    const a = b2a.frame.obuId as string;
    // a's B2 goes unanswered: given up (`gave-up`), then b is searched for
    const b2b = await until(lane.expectFrame("B2", 5000, (f) => f.obuId !== a));
    await lane.send({ type: "ACK" }, b2a);
    const b = b2b.frame.obuId as string;
    await lane.send(lane.c1(b), b2b);
    await until(lane.expectFrame("B3", 2000, (f) => f.obuId === b));
    expect(ackHandlings(frameLog).at(-1)).toBe(strayAckLine(protocol, b2a, b2b));
    expect(events.filter((e) => e.type === "ended")).toMatchObject([{ obuId: a, outcome: "gave-up" }]);
    expect(sim.vehicles().find((v) => v.obuId === b)?.outcome).toBeUndefined();
  });

  it("the ack under the pending frame's reply sequence still ends it", async () => {
    const { sim, lane, frameLog, events } = await setup(protocol);
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b2);
    const obuId = b2.frame.obuId as string;
    await until(ended);
    expect(ackHandlings(frameLog)).toEqual(["acknowledges B0", "acknowledges B2"]);
    expect(events.filter((e) => e.type === "ended")).toMatchObject([
      { obuId, outcome: "stopped", detail: "empty ack to B2" },
    ]);
  });
});
