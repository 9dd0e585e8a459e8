import { describe, expect, it, vi } from "vitest";
import { encodeFrame, type Frame, isHeartbeat } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import type { ChannelProblem } from "../../firmware-bridge/link/frame-channel.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator, type RsuSimulatorOptions, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, until } from "./fake-time.js";
import { LaneDriver } from "./lane-driver.js";

const keys = loadCardKeys();
const running = simulatorsOnFakeTime();

const PT = "20250102100005";

function oneCar(faults: unknown[], extra: Record<string, unknown> = {}): ScenarioInput {
  return {
    startTime: "2025-01-02T10:00:00+08:00",
    traffic: { vehicles: [{ id: "car", plate: "湘A54321", balance: 8000, zoneMs: 5000, faults, ...extra }] },
  } as ScenarioInput;
}

/** A vehicle whose B5 the lane does not get (the RSU gives up after 5 s), and vehicle `second` 50 ms behind it. */
function lostB5Then(second: string): ScenarioInput {
  return {
    startTime: "2025-01-02T10:00:00+08:00",
    traffic: {
      vehicles: [
        { id: "lost", at: 0, balance: 5000, zoneMs: 8000, faults: [{ kind: "b5-lost", lingerMs: 5000 }] },
        { id: second, at: 50, balance: 5000, zoneMs: 8000 },
      ],
    },
  } as ScenarioInput;
}

async function setup(
  protocol: "legacy" | "national",
  scenario: ScenarioInput,
  heartbeatMs = 60_000,
  options: Partial<RsuSimulatorOptions> = {},
) {
  const pair = createTransportPair();
  const frameLog = memoryFrameLog();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    scenario,
    seed: 3,
    frameLog,
    timing: { heartbeatMs },
    cable: pair,
    ...options,
  });
  const lane = new LaneDriver(pair.lane, protocol);
  const problems: ChannelProblem[] = [];
  lane.ch.problems$.subscribe((p) => problems.push(p));
  await lane.open();
  await sim.start();
  const events: SimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  running.push({ sim, lane });
  return { pair, sim, lane, frameLog, events, problems };
}

/** Init, then C1 to B2 (and to B3 when `to` is B4), returning the last frame received. */
async function toStep(lane: LaneDriver, to: "B3" | "B4") {
  await until(lane.init());
  const b2 = await until(lane.expectFrame("B2"));
  const obuId = b2.frame.obuId as string;
  await lane.send(lane.c1(obuId), b2);
  const b3 = await until(lane.expectFrame("B3"));
  if (to === "B3") return { obuId, last: b3 };
  await lane.send(lane.c1(obuId), b3);
  return { obuId, last: await until(lane.expectFrame("B4")) };
}

/** Frames the simulator sent (its own frame log), by type. */
function sent(frameLog: ReturnType<typeof memoryFrameLog>, type: string) {
  return frameLog.records.filter((r) => r.dir === "tx" && r.frame?.type === type);
}

describe.each(["legacy", "national"] as const)("%s faults", (protocol) => {
  it("OBU leaves before B3: B3 carries ErrorCode 01 (short form)", async () => {
    const { lane, sim } = await setup(protocol, oneCar(["leave-before-b3"]));
    const done = next(sim.events$, (e) => e.type === "done");
    const { last } = await toStep(lane, "B3");
    expect(last.frame.errorCode).toBe(1);
    expect(last.frame.plateNumber ?? last.frame.vehicleInfo).toBeUndefined();
    await lane.send(lane.c2(last.frame.obuId as string), last);
    expect(await until(done)).toMatchObject({ outcome: "failed" });
  });

  it("OBU leaves before B4: B4 carries ErrorCode 01", async () => {
    const { lane } = await setup(protocol, oneCar(["leave-before-b4"]));
    const { last } = await toStep(lane, "B4");
    expect(last.frame.errorCode).toBe(1);
    expect(last.frame.cardRestMoney).toBeUndefined();
  });

  it("OBU leaves during the debit: B5 ErrorCode 01, no money taken, C8 gets B8 ErrorCode 01", async () => {
    const { lane, sim } = await setup(protocol, oneCar(["leave-during-debit"]));
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 700, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(1);
    // INIT answered before the OBU left: the RSU reports the attempt's serial, but no TAC.
    expect(b5.frame.tac).toBe("00000000");
    expect(b5.frame.iccPaySerial).toBe(1);
    expect(b5.frame.cardBalance).toBe(8000);
    expect(sim.cards()[0]).toMatchObject({ balance: 8000, offlineSerial: 1 });
    expect(sim.ledger()).toHaveLength(0);
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame.errorCode).toBe(1);
  });

  it.each(["C2", "C1"] as const)(
    "C8 for an OBU that left during the debit, another OBU waiting: B8 01, %s ends the torn one, the next gets its B2",
    async (answer) => {
      const scenario = {
        startTime: "2025-01-02T10:00:00+08:00",
        traffic: {
          vehicles: [
            { id: "torn", at: 0, balance: 5000, zoneMs: 5000, faults: ["leave-during-debit"] },
            { id: "next", at: 50, balance: 5000, zoneMs: 5000 },
          ],
        },
      } as ScenarioInput;
      const { lane, sim, events } = await setup(protocol, scenario);
      const { obuId, last } = await toStep(lane, "B4");
      await lane.send(lane.c6(last.frame, 700, PT), last);
      const b5 = await until(lane.expectFrame("B5"));
      expect(b5.frame).toMatchObject({ obuId, errorCode: 1 });
      const tornEnded = next(sim.events$, (e) => e.type === "ended" && e.vehicleId === "torn");
      // docs/protocol.md §6: the lane asks C8 with the serial the uncertain B5 reported.
      await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toMatchObject({ obuId, errorCode: 1 });
      await lane.send(answer === "C2" ? lane.c2(obuId, 1) : lane.c1(obuId), b8);
      expect(await until(tornEnded)).toMatchObject({
        outcome: "failed",
        detail: answer === "C2" ? "C2 stop type 1" : "C1 after B8 error",
      });
      // The waiting OBU's transaction starts only now, and goes on.
      const b2 = await until(lane.expectFrame("B2"));
      const nextObu = sim.vehicles().find((v) => v.id === "next")?.obuId;
      expect(b2.frame.obuId).toBe(nextObu);
      await lane.send(lane.c1(nextObu as string), b2);
      expect((await until(lane.expectFrame("B3"))).frame.obuId).toBe(nextObu);
      expect(events.filter((e) => e.type === "ended").map((e) => [e.vehicleId, e.outcome])).toEqual([
        ["torn", "failed"],
      ]);
    },
  );

  it("C8 for an OBU out of range during another OBU's transaction is ignored; that transaction goes on", async () => {
    const { lane, frameLog } = await setup(protocol, oneCar([]));
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c8("0badcafe", 1));
    // B2 still repeated (same RSCTL/SEQ), no B8; the lane's C1 to it moves the transaction on.
    const again = await until(lane.expectFrame("B2"));
    expect(again.wire.seq).toBe(b2.wire.seq);
    expect(frameLog.records.find((r) => r.dir === "rx" && r.frame?.type === "C8")?.handling).toBe(
      `ignored: C8 for OBU 0badcafe, out of range, while in a transaction with OBU ${obuId}`,
    );
    await lane.send(lane.c1(obuId), again);
    expect((await until(lane.expectFrame("B3"))).frame.obuId).toBe(obuId);
    expect(sent(frameLog, "B8")).toHaveLength(0);
  });

  it("C8 for an OBU in range during another OBU's transaction: that one is set aside, B8 00, then its B2 goes on", async () => {
    const scenario = lostB5Then("other");
    const { lane, sim, events } = await setup(protocol, scenario);
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 700, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(1);
    // The lane is late: the RSU gives up on the B5 and serves the next OBU.
    const otherObu = sim.vehicles().find((v) => v.id === "other")?.obuId as string;
    const b2 = await until(lane.expectFrame("B2"));
    expect(b2.frame.obuId).toBe(otherObu);
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number));
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ obuId, errorCode: 0, tac: sim.ledger()[0]?.tac });
    lane.drain();
    await lane.send(lane.c1(obuId), b8);
    // The set-aside transaction goes on: its B2 is repeated again (same RSCTL/SEQ), and C1 moves it on.
    const b2again = await until(lane.expectFrame("B2"));
    expect(b2again.frame.obuId).toBe(otherObu);
    expect(b2again.wire.seq).toBe(b2.wire.seq);
    await lane.send(lane.c1(otherObu), b2again);
    expect((await until(lane.expectFrame("B3"))).frame.obuId).toBe(otherObu);
    expect(events.filter((e) => e.type === "ended").map((e) => [e.vehicleId, e.outcome, e.detail])).toEqual([
      ["lost", "gave-up", "no answer to B5"],
      ["lost", "traded", "C1 after B8"],
    ]);
  });

  it("C8 for an OBU in range while another OBU waits after its B5 00: that one is set aside, goes on after the B8, and is not traded again", async () => {
    const scenario = lostB5Then("paid");
    const { lane, sim, events, frameLog } = await setup(protocol, scenario);
    const { obuId: lostObu, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 700, PT), last);
    const b5lost = await until(lane.expectFrame("B5"));
    expect(b5lost.frame).toMatchObject({ obuId: lostObu, errorCode: 1 });
    // The lane is late: the RSU gives up on that B5 and trades the next OBU up to its B5 00.
    const paidObu = sim.vehicles().find((v) => v.id === "paid")?.obuId as string;
    const b2 = await until(lane.expectFrame("B2"));
    expect(b2.frame.obuId).toBe(paidObu);
    await lane.send(lane.c1(paidObu), b2);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(paidObu), b3);
    const b4 = await until(lane.expectFrame("B4"));
    await lane.send(lane.c6(b4.frame, 300, PT), b4);
    const b5paid = await until(lane.expectFrame("B5", 2000, (f) => f.obuId === paidObu));
    expect(b5paid.frame.errorCode).toBe(0);
    lane.drain();
    const paidEnded = next(sim.events$, (e) => e.type === "ended" && e.vehicleId === "paid");
    // The late C8 for the first OBU, still in range, before the lane's C1 to the B5 00.
    await lane.send(lane.c8(lostObu, b5lost.frame.iccPaySerial as number));
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ obuId: lostObu, errorCode: 0 });
    await lane.send(lane.c1(lostObu), b8);
    // The B5 00 goes on being repeated (same RSCTL/SEQ and bytes, at the next time of its own schedule)
    // and the lane's C1 ends that trade.
    const again = await until(lane.expectFrame("B5", 2000, (f) => f.obuId === paidObu));
    expect(again.wire.seq).toBe(b5paid.wire.seq);
    expect(again.wire.raw).toEqual(b5paid.wire.raw);
    expect(again.at - b5paid.at).toBe(120);
    await lane.send(lane.c1(paidObu), again);
    expect(await until(paidEnded)).toMatchObject({ outcome: "traded", detail: "C1 after B5" });
    // Until both OBUs have left, no B2 for the paid OBU again and no second debit of its card.
    await until(sim.done);
    expect(sent(frameLog, "B2").filter((r) => r.frame?.obuId === paidObu)).toHaveLength(1);
    expect(sim.ledger().map((e) => [e.vehicleId, e.outcome])).toEqual([
      ["lost", "torn-after-debit"],
      ["paid", "done"],
    ]);
    expect(events.filter((e) => e.type === "ended").map((e) => [e.vehicleId, e.outcome, e.detail])).toEqual([
      ["lost", "gave-up", "no answer to B5"],
      ["lost", "traded", "C1 after B8"],
      ["paid", "traded", "C1 after B5"],
    ]);
  });

  it("a B5 00 set aside for a C8 whose schedule ran out meanwhile is given up when taken up again, never sent again", async () => {
    const scenario = lostB5Then("paid");
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const { obuId: lostObu, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 700, PT), last);
    const b5lost = await until(lane.expectFrame("B5"));
    const paidObu = sim.vehicles().find((v) => v.id === "paid")?.obuId as string;
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send(lane.c1(paidObu), b2);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(paidObu), b3);
    const b4 = await until(lane.expectFrame("B4"));
    await lane.send(lane.c6(b4.frame, 300, PT), b4);
    const isPaid = (f: Record<string, unknown>) => f.obuId === paidObu;
    const b5paid = await until(lane.expectFrame("B5", 2000, isPaid));
    expect(b5paid.frame.errorCode).toBe(0);
    await until(lane.expectFrame("B5", 2000, isPaid));
    await until(lane.expectFrame("B5", 2000, isPaid));
    const paidGaveUp = next(sim.events$, (e) => e.type === "gaveUp" && e.obuId === paidObu);
    const paidEnded = next(sim.events$, (e) => e.type === "ended" && e.vehicleId === "paid");
    // After the third copy of the B5 00, the C8 for the first OBU; the lane answers the B8 only at its
    // last repeat, when the B5 00's schedule (3 repeats, then give-up 120 ms after the last) has run out.
    await lane.send(lane.c8(lostObu, b5lost.frame.iccPaySerial as number));
    const b8 = await until(lane.expectFrame("B8"));
    for (let i = 0; i < 3; i++) expect((await until(lane.expectFrame("B8"))).wire.raw).toEqual(b8.wire.raw);
    await lane.send(lane.c1(lostObu), b8);
    expect(await until(paidGaveUp)).toMatchObject({ frame: "B5", obuId: paidObu });
    expect(await until(paidEnded)).toMatchObject({ outcome: "traded", detail: "no answer to B5" });
    await until(sim.done);
    // Three copies, all before the C8: none after it, so none a lane could take for a new frame.
    expect(
      sent(frameLog, "B5")
        .filter((r) => r.frame?.obuId === paidObu)
        .map((r) => [r.hex, r.note]),
    ).toEqual([
      [b5paid.wire.raw.toString("hex"), undefined],
      [b5paid.wire.raw.toString("hex"), "retransmit"],
      [b5paid.wire.raw.toString("hex"), "retransmit"],
    ]);
  });

  it("reboot before B8: the C8's B8 never goes out, the RSU reboots instead", async () => {
    const { lane, events, frameLog } = await setup(
      protocol,
      oneCar([
        { kind: "b5-lost", lingerMs: 4000 },
        { kind: "reboot", before: "B8", bootMs: 100 },
      ]),
    );
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.wire.seq).toBe(protocol === "legacy" ? 0x98 : 0x01);
    expect(sent(frameLog, "B8")).toHaveLength(0);
    expect(events.filter((e) => e.type === "fault").map((e) => [e.fault, e.vehicleId])).toEqual([
      ["b5-lost", "car"],
      ["reboot", "car"],
    ]);
  });

  it("unplug before B8: the port closes as the C8's B8 is due", async () => {
    const { lane, events, pair } = await setup(
      protocol,
      oneCar([
        { kind: "b5-lost", lingerMs: 4000 },
        { kind: "unplug", before: "B8", durationMs: 300 },
      ]),
    );
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    const down = next(pair.lane.state$, (st) => st.status === "disconnected");
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
    await until(down);
    expect(events.filter((e) => e.type === "fault").map((e) => [e.fault, e.vehicleId])).toEqual([
      ["b5-lost", "car"],
      ["unplug", "car"],
    ]);
  });

  it("debit done but B5 lost: money taken, ledger has it, C8 while in range returns the TAC in B8", async () => {
    const { lane, sim } = await setup(protocol, oneCar([{ kind: "b5-lost", lingerMs: 3000 }]));
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(1);
    expect(sim.cards()[0]).toMatchObject({ balance: 8000 - 650, offlineSerial: 2 });
    const [entry] = sim.ledger();
    expect(entry).toMatchObject({ outcome: "torn-after-debit", amount: 650, iccPaySerial: 1 });
    // The uncertain B5 names the serial the lane must prove with C8.
    expect(b5.frame.iccPaySerial).toBe(entry?.iccPaySerial);
    expect(b5.frame.psamTransSerial).toBe(entry?.psamTransSerial);
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame.errorCode).toBe(0);
    expect(b8.frame.tac).toBe(entry?.tac);
    expect(b8.frame.cardRestMoney).toBe(8000 - 650);
    expect(verifyTac({ ...entry!, tac: b8.frame.tac as string, algId: undefined }, keys).ok).toBe(true);
    // A serial the card never used: no TAC.
    await lane.send(lane.c1(obuId), b8);
    await lane.send(lane.c8(obuId, 9));
    const bad = await until(lane.expectFrame("B8"));
    expect(bad.frame.errorCode).toBe(3);
  });

  it("C8 with the antenna closed (C4 00): B8 ErrorCode 01 (no DSRC response), the card is not read", async () => {
    // The OBU lingers in range after a purchase torn after the debit: only the closed antenna keeps the
    // RSU from reaching it.
    const { lane, sim, frameLog } = await setup(protocol, oneCar([{ kind: "b5-lost", lingerMs: 10_000 }]));
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(1);
    await lane.send(lane.c4(false));
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number));
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ obuId, errorCode: 1 });
    expect(b8.frame.tac).toBeUndefined();
    expect(
      frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "C8").map((r) => r.handling),
    ).toEqual(["antenna closed: B8 ErrorCode 01"]);
    // The card paid (torn after the debit) and is still in range: a C8 with the antenna open would prove it.
    expect(sim.cards()[0]).toMatchObject({ balance: 8000 - 650, offlineSerial: 2 });
  });

  it("a C1 to a B8 error after the B5 00 ends the transaction traded: not traded again in the zone (retradeWhileInZone)", async () => {
    const { lane, sim, frameLog, events } = await setup(protocol, oneCar([], { retradeWhileInZone: true }));
    const done = next(sim.events$, (e) => e.type === "done");
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    // A serial the card never used: B8 03 in the paid transaction.
    await lane.send(lane.c8(obuId, 99), b5);
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame.errorCode).toBe(3);
    await lane.send(lane.c1(obuId), b8);
    expect(await until(done)).toMatchObject({ outcome: "traded" });
    expect(events.filter((e) => e.type === "ended").map((e) => [e.outcome, e.detail])).toEqual([
      ["traded", "C1 after B8 error"],
    ]);
    // One passage, one transaction: no B2 after the paid one while the OBU was in the zone.
    expect(sent(frameLog, "B2")).toHaveLength(1);
    expect(sim.ledger()).toHaveLength(1);
  });

  it("b5-lost with b5: none sends no B5 at all", async () => {
    const { lane, sim, frameLog } = await setup(protocol, oneCar([{ kind: "b5-lost", b5: "none" }]));
    const ended = next(sim.events$, (e) => e.type === "ended");
    const done = next(sim.events$, (e) => e.type === "done");
    const { last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 100, PT), last);
    expect(await until(ended)).toMatchObject({ outcome: "failed", detail: "B5 lost after the debit" });
    expect(sim.ledger()[0]?.outcome).toBe("torn-after-debit");
    // Until the OBU has left (it lingers for the lane's C8), no B5 ever went out.
    await until(done);
    expect(sent(frameLog, "B5")).toHaveLength(0);
  });

  it("every copy of the B5 00 damaged: the card paid, the lane got no B5, the ledger says torn-after-debit", async () => {
    const { lane, sim, frameLog } = await setup(
      protocol,
      oneCar([{ kind: "bad-checksum", frame: "B5", times: 4 }]),
    );
    const ended = next(sim.events$, (e) => e.type === "ended");
    const { obuId, last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    expect(await until(ended)).toMatchObject({ outcome: "traded", detail: "no answer to B5" });
    expect(sent(frameLog, "B5").map((r) => r.note)).toEqual(Array(4).fill("bad-checksum"));
    expect(lane.received.filter((r) => r.frame.type === "B5")).toHaveLength(0);
    expect(sim.cards()[0]).toMatchObject({ balance: 8000 - 650 });
    const [entry] = sim.ledger();
    expect(entry).toMatchObject({ outcome: "torn-after-debit", amount: 650, iccPaySerial: 1 });
    // what the lane does for a torn debit: C8 while the OBU is in range brings the TAC
    await lane.send(lane.c8(obuId, 1));
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ errorCode: 0, tac: entry?.tac });
  });

  it("the last repeat of the B5 00 intact: the lane got it, the ledger says done", async () => {
    const { lane, sim } = await setup(protocol, oneCar([{ kind: "bad-checksum", frame: "B5", times: 3 }]));
    const { last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    expect(sim.ledger().map((e) => e.outcome)).toEqual(["done"]);
  });

  it("unplug before B5: the debit is made, its B5 goes to a closed port, the ledger says torn-after-debit", async () => {
    const { lane, sim, pair } = await setup(
      protocol,
      oneCar([{ kind: "unplug", before: "B5", durationMs: 2000 }]),
    );
    const ended = next(sim.events$, (e) => e.type === "ended");
    const down = next(pair.lane.state$, (st) => st.status === "disconnected");
    const { last } = await toStep(lane, "B4");
    await lane.send(lane.c6(last.frame, 650, PT), last);
    await until(down);
    expect(await until(ended)).toMatchObject({ outcome: "traded", detail: "no answer to B5" });
    expect(lane.received.filter((r) => r.frame.type === "B5")).toHaveLength(0);
    expect(sim.ledger().map((e) => [e.amount, e.outcome])).toEqual([[650, "torn-after-debit"]]);
  });

  it("bad checksum on B2: the lane discards it, the retransmission (same RSCTL/SEQ) is clean", async () => {
    const { lane, problems, frameLog } = await setup(
      protocol,
      oneCar([{ kind: "bad-checksum", frame: "B2" }]),
    );
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    expect(problems.filter((p) => p.kind === "checksum-error")).toHaveLength(1);
    const tx = frameLog.records.filter(
      (r) => r.dir === "tx" && (r.frame as { type?: string } | undefined)?.type === "B2",
    );
    expect(tx.map((r) => r.note)).toEqual(["bad-checksum", "retransmit"]);
    expect(b2.wire.seq).toBe((tx[0]?.frame as { seq: number } | undefined)?.seq);
  });

  it("garbled bytes in B3: the lane sees a broken frame, then the clean repeat", async () => {
    const { lane, problems, frameLog } = await setup(protocol, oneCar([{ kind: "garble", frame: "B3" }]));
    const { last } = await toStep(lane, "B3");
    expect(last.frame.errorCode).toBe(0);
    expect(sent(frameLog, "B3").map((r) => r.note)).toEqual(["garbled", "retransmit"]);
    expect(problems.filter((p) => p.kind === "checksum-error")).toHaveLength(1);
  });

  it("duplicated frame: B4 arrives twice with the same RSCTL/SEQ and bytes", async () => {
    const { lane } = await setup(protocol, oneCar([{ kind: "duplicate", frame: "B4" }]));
    const { last } = await toStep(lane, "B4");
    const again = await until(lane.expectFrame("B4", 100));
    expect(again.wire.raw.equals(last.wire.raw)).toBe(true);
  });

  it("slow RSU: B3 comes the DSRC time plus delayMs after C1", async () => {
    const { lane } = await setup(protocol, oneCar([{ kind: "slow", frame: "B3", delayMs: 300 }]));
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send(lane.c1(b2.frame.obuId as string), b2);
    const c1At = performance.now(); // fake time: the C1 reached the RSU at this instant
    const b3 = await until(lane.expectFrame("B3"));
    expect(b3.at - c1At).toBe(15 + 300); // dsrcMs.b3 (default 15) + the fault's delay
  });

  it("a reboot with another OBU waiting starts no transaction while the RSU is down", async () => {
    const scenario = {
      startTime: "2025-01-02T10:00:00+08:00",
      traffic: {
        vehicles: [
          {
            id: "first",
            plate: "湘A54321",
            zoneMs: 5000,
            faults: [{ kind: "reboot", before: "B4", bootMs: 100 }],
          },
          { id: "second", at: 1, plate: "湘A54322", zoneMs: 5000 },
        ],
      },
    } as ScenarioInput;
    const { lane, events } = await setup(protocol, scenario);
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send(lane.c1(b2.frame.obuId as string), b2);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(b2.frame.obuId as string), b3);
    await until(lane.expectFrame("B0")); // the reboot
    await until(lane.init());
    // The second OBU is served after the new C0; nothing was started (and aborted by C0) for it before.
    await until(lane.expectFrame("B2"));
    expect(events.filter((e) => e.type === "ended").map((e) => [e.vehicleId, e.outcome, e.detail])).toEqual([
      ["first", "aborted", "RSU reboot"],
    ]);
  });

  it("reboot: B0 unasked (legacy RSCTL 0x98, national SEQ 01), state lost, only C0 is answered", async () => {
    const { lane, events, frameLog } = await setup(
      protocol,
      oneCar([{ kind: "reboot", before: "B4", bootMs: 100 }]),
    );
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c1(obuId), b2);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(obuId), b3);
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.wire.seq).toBe(protocol === "legacy" ? 0x98 : 0x01);
    expect(events.some((e) => e.type === "ended" && e.outcome === "aborted")).toBe(true);
    const afterB0 = frameLog.records.length;
    await lane.send({ type: "ACK" } as Frame, b0);
    await lane.send(lane.c4(true));
    await lane.send(lane.c1(obuId));
    await vi.advanceTimersByTimeAsync(600);
    const since = frameLog.records.slice(afterB0);
    expect(since.filter((r) => r.dir === "rx").map((r) => r.handling)).toEqual([
      "acknowledges B0 (the RSU stays uninitialised until a C0)",
      "ignored: RSU not initialised (needs C0), got C4",
      "ignored: RSU not initialised (needs C0), got C1",
    ]);
    expect(since.filter((r) => r.dir === "tx")).toEqual([]);
    const again = await until(lane.init());
    expect(again.wire.seq).toBe(protocol === "legacy" ? 0x08 : 0x02);
    const b2b = await until(lane.expectFrame("B2"));
    expect(b2b.frame.obuId).toBe(obuId);
  });

  it("the unasked B0 after a reboot is an information frame: unanswered, it goes out 4 times 120 ms apart (same RSCTL/SEQ), then is given up", async () => {
    const { lane, sim, frameLog, events } = await setup(protocol, {});
    await until(lane.init());
    const from = frameLog.records.length;
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    sim.inject({ kind: "reboot", bootMs: 50 });
    await until(gaveUp);
    await vi.advanceTimersByTimeAsync(1000);
    const tx = frameLog.records.slice(from).filter((r) => r.dir === "tx");
    expect(tx.map((r) => [r.frame?.type, r.note, r.t - (tx[0]?.t ?? 0)])).toEqual([
      ["B0", "power-on", 0],
      ["B0", "retransmit", 120],
      ["B0", "retransmit", 240],
      ["B0", "retransmit", 360],
    ]);
    expect(new Set(tx.map((r) => r.hex)).size).toBe(1);
    const copies = [0, 1, 2, 3].map(() => lane.expectFrame("B0"));
    expect((await Promise.all(copies)).map((b) => b.wire.seq)).toEqual(
      Array(4).fill(protocol === "legacy" ? 0x98 : 0x01),
    );
    expect(events.filter((e) => e.type === "notice").map((e) => e.type === "notice" && e.code)).toEqual([
      "b0-unanswered",
    ]);
  });

  it("announce() while the RSU reboots sends nothing: the one unasked B0 goes out when the boot ends", async () => {
    const { lane, sim, frameLog } = await setup(protocol, {});
    await until(lane.init());
    const from = frameLog.records.length;
    const rebootAt = performance.now();
    sim.inject({ kind: "reboot", bootMs: 400 });
    await vi.advanceTimersByTimeAsync(100);
    expect(sim.announce()).toBe(false);
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.at - rebootAt).toBe(400);
    const again = await until(lane.init());
    expect(again.wire.seq).toBe(protocol === "legacy" ? 0x08 : 0x02);
    await vi.advanceTimersByTimeAsync(1000);
    const b0s = frameLog.records.slice(from).filter((r) => r.dir === "tx" && r.frame?.type === "B0");
    expect(b0s.map((r) => r.note)).toEqual(["power-on", undefined]);
  });

  it.each([
    [400, 50],
    [50, 400],
  ])(
    "a reboot during a boot restarts it (bootMs %i, then %i): one unasked B0, bootMs after the second reboot",
    async (first, second) => {
      const { lane, sim, frameLog } = await setup(protocol, {});
      await until(lane.init());
      const from = frameLog.records.length;
      sim.inject({ kind: "reboot", bootMs: first });
      const secondAt = performance.now();
      sim.inject({ kind: "reboot", bootMs: second });
      const b0 = await until(lane.expectFrame("B0"));
      expect(b0.at - secondAt).toBe(second);
      expect(b0.wire.seq).toBe(protocol === "legacy" ? 0x98 : 0x01);
      const again = await until(lane.init()); // answers the B0 it asked for: its C0 answers the unasked one
      expect(again.wire.seq).toBe(protocol === "legacy" ? 0x08 : 0x02);
      await vi.advanceTimersByTimeAsync(1000);
      const tx = frameLog.records.slice(from).filter((r) => r.dir === "tx");
      expect(tx.map((r) => [r.frame?.type, r.frame?.rsuStatus, r.note])).toEqual([
        ["B0", 0, "power-on"],
        ["B0", 0, undefined],
      ]);
      expect(sim.mode).toBe("search");
    },
  );

  it.each(["reboot", "power-on"] as const)(
    "the lane's empty ack to the unasked %s B0 acknowledges it: not an illegal frame, no repeat",
    async (cause) => {
      const { lane, sim, frameLog, events } = await setup(protocol, {}, 60_000, {
        announcePowerOn: cause === "power-on",
      });
      if (cause === "reboot") {
        await until(lane.init());
        sim.inject({ kind: "reboot", bootMs: 50 });
      }
      const b0 = await until(lane.expectFrame("B0"));
      expect(b0.wire.seq).toBe(protocol === "legacy" ? 0x98 : 0x01);
      const from = frameLog.records.length;
      await lane.send({ type: "ACK" } as Frame, b0);
      await vi.advanceTimersByTimeAsync(1000);
      expect(frameLog.records.slice(from).map((r) => [r.dir, r.frame?.type, r.handling])).toEqual([
        ["rx", "ACK", "acknowledges B0 (the RSU stays uninitialised until a C0)"],
      ]);
      expect(events.filter((e) => e.type === "illegal" || e.type === "gaveUp")).toEqual([]);
      expect(sim.mode).toBe("off");
    },
  );

  it("a deduplicating lane's ack resent for a repeat of the unasked B0 it already acknowledged is a repeat of that ack, not a lane mistake", async () => {
    const { lane, sim, frameLog, events } = await setup(protocol, {});
    await until(lane.init());
    sim.inject({ kind: "reboot", bootMs: 50 });
    const b0 = await until(lane.expectFrame("B0"));
    const repeat = await until(lane.expectFrame("B0")); // the ack comes after the first repeat went out
    expect(repeat.wire.raw).toEqual(b0.wire.raw);
    const from = frameLog.records.length;
    await lane.send({ type: "ACK" } as Frame, b0);
    await lane.send({ type: "ACK" } as Frame, repeat); // the lane's cached answer, for the copy it got after
    await vi.advanceTimersByTimeAsync(1000);
    expect(frameLog.records.slice(from).map((r) => [r.dir, r.frame?.type, r.handling])).toEqual([
      ["rx", "ACK", "acknowledges B0 (the RSU stays uninitialised until a C0)"],
      ["rx", "ACK", "ignored: repeat of the answer to the previous frame"],
    ]);
    expect(events.filter((e) => e.type === "illegal").map((e) => e.type === "illegal" && e.handling)).toEqual(
      ["ignored: repeat of the answer to the previous frame"],
    );
    expect(sim.mode).toBe("off");
  });

  it.each(["ACK", "C1"] as const)(
    "--pty --announce (first-frame): the lane's first frame (%s) was sent before the B0 it triggers, so it does not answer it",
    async (type) => {
      const { lane, sim, frameLog, events } = await setup(protocol, {}, 60_000, {
        announcePowerOn: "first-frame",
      });
      const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
      await lane.send(type === "ACK" ? ({ type: "ACK" } as Frame) : lane.c1("01020304"));
      await until(gaveUp);
      await vi.advanceTimersByTimeAsync(1000);
      expect(frameLog.records.filter((r) => r.dir === "rx").map((r) => r.handling)).toEqual([
        `ignored: RSU not initialised (needs C0), got ${type}`,
      ]);
      const tx = frameLog.records.filter((r) => r.dir === "tx");
      expect(tx.map((r) => [r.frame?.type, r.note, r.t - (tx[0]?.t ?? 0)])).toEqual([
        ["B0", "power-on", 0],
        ["B0", "retransmit", 120],
        ["B0", "retransmit", 240],
        ["B0", "retransmit", 360],
      ]);
      const copies = [0, 1, 2, 3].map(() => lane.expectFrame("B0"));
      expect((await Promise.all(copies)).map((b) => b.wire.seq)).toEqual(
        Array(4).fill(protocol === "legacy" ? 0x98 : 0x01),
      );
      expect(events.filter((e) => e.type === "notice").map((e) => e.type === "notice" && e.code)).toEqual([
        "b0-unanswered",
      ]);
    },
  );

  it("port unplugged and replugged: the lane sees the disconnect, frames are lost meanwhile, then work", async () => {
    const { lane, pair, sim } = await setup(protocol, oneCar([]), 150);
    await until(lane.init());
    await until(lane.expectFrame("B2"));
    const down = next(pair.lane.state$, (s) => s.status === "disconnected");
    sim.inject({ kind: "unplug", durationMs: 300 });
    await until(down);
    expect(pair.device.status).toBe("disconnected");
    await until(next(pair.device.state$, (s) => s.status === "open"));
    await pair.lane.open();
    lane.drain();
    await until(lane.expectFrame("HB", 1000));
  });

  it("heartbeats every heartbeatMs while idle; heartbeat-stop silences them, everything else works", async () => {
    const { lane, sim } = await setup(protocol, { name: "empty" }, 150);
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    await lane.send({ type: "ACK" }, b0);
    const hbs = [await until(lane.expectFrame("HB"))];
    for (let i = 0; i < 2; i++) hbs.push(await until(lane.expectFrame("HB")));
    expect(hbs.map((h) => h.at - (hbs[0]?.at as number))).toEqual([0, 150, 300]);
    const hb = hbs[0]?.frame as unknown as Record<string, unknown>;
    const expected =
      protocol === "legacy"
        ? { type: "B2", obuId: "00000000", errorCode: 0x80 }
        : { type: "B1", controller1Status: 0, psamNum1: 1, antennaNum: 1 };
    expect(hb).toMatchObject(expected);
    sim.inject({ kind: "heartbeat-stop", durationMs: 600 });
    lane.drain();
    await vi.advanceTimersByTimeAsync(500);
    expect(lane.drain().filter((r) => isHeartbeat(r.frame, protocol))).toEqual([]);
    await lane.send(lane.c0());
    await until(lane.expectFrame("B0"));
    await until(lane.expectFrame("HB", 1000));
  });

  it("an empty ack to a heartbeat acknowledges the heartbeat: the B2 awaiting its answer goes on being repeated", async () => {
    // The OBU comes after the first heartbeat (legacy: one goes out only while no OBU is served); national
    // also sends it while the B2 awaits its answer.
    const at = protocol === "legacy" ? 1100 : 900;
    const { lane, sim, frameLog } = await setup(protocol, oneCar([], { at }), 1000);
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    await until(lane.init());
    const hb = await until(lane.expectFrame("HB"));
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    // The lane acknowledges the heartbeat (reply RSCTL/SEQ) while the B2 still awaits its answer.
    await lane.send({ type: "ACK" }, hb);
    expect(await until(gaveUp)).toMatchObject({ frame: "B2", obuId });
    expect(
      sent(frameLog, "B2")
        .filter((r) => r.frame?.obuId === obuId)
        .map((r) => [r.hex, r.note]),
    ).toEqual([
      [b2.wire.raw.toString("hex"), undefined],
      [b2.wire.raw.toString("hex"), "retransmit"],
      [b2.wire.raw.toString("hex"), "retransmit"],
      [b2.wire.raw.toString("hex"), "retransmit"],
    ]);
    expect(
      frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "ACK").map((r) => r.handling),
    ).toEqual(["acknowledges B0", "acknowledges the heartbeat"]);
  });
});

describe("illegal frames", () => {
  it.each(["legacy", "national"] as const)(
    "%s: an RSU frame coming back to the simulator (an echo on the line) is counted as an echo, never handled as a lane frame",
    async (protocol) => {
      const { pair, sim, frameLog, events } = await setup(protocol, oneCar([]));
      const dialect = defaultDialect(protocol);
      const b2 = encodeFrame({ type: "B2", obuId: "01020304", errorCode: 0 } as Frame, 0x18, dialect);
      await pair.lane.write(b2);
      await vi.advanceTimersByTimeAsync(0);
      expect(sim.channel.counters.echoes).toBe(1);
      expect(events.filter((e) => e.type === "illegal")).toEqual([]);
      expect(frameLog.records.filter((r) => r.dir === "rx").map((r) => [r.note, r.hex])).toEqual([
        ["echo", b2.toString("hex")],
      ]);
    },
  );

  it("C6 in the wrong mode and C1 for another OBU get nothing and are logged; retransmission goes on", async () => {
    const { lane, frameLog, events, sim } = await setup("legacy", oneCar([]));
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send({ type: "C1", obuId: "01020304", obuDivFactor: "00".repeat(8) }, b2);
    await lane.send({
      type: "C6",
      obuId: b2.frame.obuId,
      cardDivFactor: "00".repeat(8),
      transSerial: 0,
      consumeMoney: 1,
      purchaseTime: PT,
      station: {
        network: "4301",
        station: "0101",
        lane: 1,
        time: 0,
        vehicleClass: 1,
        status: 4,
        flagStations: "00".repeat(9),
        collectorId: "000000",
        shift: 0,
        plate: "",
        reserved: "00000000",
      },
    } as never);
    for (let i = 0; i < 3; i++) await until(lane.expectFrame("B2"));
    await until(gaveUp);
    expect(sent(frameLog, "B2").map((r) => r.note)).toEqual([
      undefined,
      "retransmit",
      "retransmit",
      "retransmit",
    ]);
    expect(sent(frameLog, "B3")).toHaveLength(0);
    const handled = frameLog.records
      .filter((r) => r.dir === "rx" && r.handling?.startsWith("ignored"))
      .map((r) => r.handling);
    expect(handled).toEqual([
      expect.stringContaining("C1 for OBU 01020304"),
      expect.stringContaining("C6 is only legal after B4"),
    ]);
    expect(events.filter((e) => e.type === "illegal")).toHaveLength(2);
  });

  it("before C0 nothing is answered; C2 stop type 2 after B3 resends B3 with a new RSCTL", async () => {
    const { lane, frameLog } = await setup("legacy", oneCar([]));
    await lane.send(lane.c4(true));
    await vi.advanceTimersByTimeAsync(200);
    expect(frameLog.records).toEqual([
      expect.objectContaining({ dir: "rx", handling: "ignored: RSU not initialised (needs C0), got C4" }),
    ]);
    const { obuId, last } = await toStep(lane, "B3");
    await lane.send(lane.c2(obuId, 2), last);
    const again = await until(lane.expectFrame("B3"));
    expect(again.wire.seq).not.toBe(last.wire.seq);
    expect(again.wire.data.equals(last.wire.data)).toBe(true);
  });
});
