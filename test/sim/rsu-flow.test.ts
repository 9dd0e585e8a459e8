import { firstValueFrom } from "rxjs";
import { describe, expect, it, vi } from "vitest";
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { defaultDialect, fromWireUnix, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { encodeLegacy, LegacyDeframer, RSU_REBOOT_RSCTL } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import type { ChannelProblem } from "../../firmware-bridge/link/frame-channel.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { createTransportPair, type TransportPair } from "../../firmware-bridge/transport/pair.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { describeEvent } from "../../sim/cli/commands/rsu.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { SwitchTransport } from "../../sim/rsu/switch-transport.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, startSimAndLane, until, walkToB4 } from "./fake-time.js";
import { autoExitLane, LaneDriver } from "./lane-driver.js";

const keys = loadCardKeys();
const running = simulatorsOnFakeTime();

const ONE: ScenarioInput = {
  name: "one",
  startTime: "2025-01-02T10:00:00+08:00",
  traffic: {
    vehicles: [{ id: "car", plate: "湘A12345", class: 1, balance: 5000, entryStation: "0101", zoneMs: 4000 }],
  },
};

function setup(
  protocol: "legacy" | "national",
  scenario: ScenarioInput = ONE,
  extra: Record<string, unknown> = {},
) {
  return startSimAndLane(running, { protocol, scenario, seed: 7, timing: { heartbeatMs: 60_000 }, ...extra });
}

const PURCHASE_TIME = "20250102100005";

/** Frames of `type` the simulator sent to this OBU, from its own frame log. */
function sentTo(frameLog: ReturnType<typeof memoryFrameLog>, type: string, obuId: string) {
  return frameLog.records.filter(
    (r) => r.dir === "tx" && r.frame?.type === type && (r.frame as { obuId?: string }).obuId === obuId,
  );
}

describe.each(["legacy", "national"] as const)("%s RSU", (protocol) => {
  it("answers C0 with B0 carrying the PSAM terminal id, vendor and version", async () => {
    const { lane } = await setup(protocol);
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    const f = b0.frame as Record<string, unknown>;
    expect(f.rsuStatus).toBe(0);
    expect(f.rsuManuId).toBe(8);
    // national: the reference's RSUVersion is at least 0x2000; legacy gives no range
    expect(f.rsuVersion).toBe(protocol === "national" ? "2000" : "0100");
    const terminalId =
      protocol === "legacy" ? f.rsuTerminalId1 : (f.psams as { terminalId: string }[])[0]?.terminalId;
    expect(terminalId).toBe("430100000001");
    // The first frame after power-on: legacy RSCTL 0x98, national SEQ 01.
    expect(b0.wire.seq).toBe(protocol === "legacy" ? RSU_REBOOT_RSCTL : 0x01);
  });

  it("walks B2 -> B3 -> B4 -> B5 on C1, C1, C6; the TAC verifies and the card moves on", async () => {
    const { lane, sim, frameLog } = await setup(protocol);
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    expect(b2.frame.errorCode).toBe(0);
    expect(b2.frame.serialNumber).toMatch(/^\d{16}$/);
    await lane.send(lane.c1(obuId), b2);
    const b3 = await until(lane.expectFrame("B3"));
    const plate =
      protocol === "legacy" ? b3.frame.plateNumber : (b3.frame.vehicleInfo as { plate: string }).plate;
    expect(plate).toBe("湘A12345");
    await lane.send(lane.c1(obuId), b3);
    const b4 = await until(lane.expectFrame("B4"));
    expect(b4.frame.cardRestMoney).toBe(5000);
    const before = sim.cards()[0];
    expect(before?.offlineSerial).toBe(1);
    await lane.send(lane.c6(b4.frame, 1234, PURCHASE_TIME), b4);
    const b5 = await until(lane.expectFrame("B5"));
    const r = b5.frame;
    expect(r.errorCode).toBe(0);
    expect(r.cardBalance).toBe(5000 - 1234);
    expect(r.iccPaySerial).toBe(1);
    expect(r.transType).toBe(9);
    expect(r.transTime).toBe(PURCHASE_TIME);
    const info = b4.frame.issuerInfo as { issuerId: string; cardNetwork: string; cardSerial: string };
    const verdict = verifyTac(
      {
        cardNetwork: info.cardNetwork,
        cardSerial: info.cardSerial,
        issuerId: info.issuerId,
        amount: 1234,
        psamNo: r.psamNo as string,
        psamTransSerial: r.psamTransSerial as number,
        transTime: r.transTime as string,
        tac: r.tac as string,
      },
      keys,
    );
    expect(verdict).toEqual({ ok: true, expected: r.tac });
    const ended = next(sim.events$, (e) => e.type === "ended");
    const left = next(sim.events$, (e) => e.type === "left");
    await lane.send(lane.c1(obuId), b5);
    expect(await until(ended)).toMatchObject({ outcome: "traded", obuId });
    const after = sim.cards()[0];
    expect(after?.balance).toBe(5000 - 1234);
    expect(after?.offlineSerial).toBe(2);
    expect(after?.file0019.status).toBe(4);
    expect(after?.file0019.station).toBe("0201");
    const [entry] = sim.ledger();
    expect(entry).toMatchObject({
      obuId,
      amount: 1234,
      tac: r.tac,
      iccPaySerial: 1,
      outcome: "done",
      plate: "湘A12345",
    });
    expect(verifyTac({ ...entry!, algId: undefined }, keys).ok).toBe(true);
    // Traded: the OBU is not traded again while it stays in the zone (until it leaves).
    await until(left);
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
  });

  it("repeats an unanswered B2 exactly 3 times 120 ms apart (same bytes), then gives up on that OBU", async () => {
    const { lane, sim, frameLog } = await setup(protocol);
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    const ended = next(sim.events$, (e) => e.type === "ended");
    const left = next(sim.events$, (e) => e.type === "left");
    await until(lane.init());
    const first = await until(lane.expectFrame("B2"));
    const obuId = first.frame.obuId as string;
    const copies = [first];
    for (let i = 0; i < 3; i++) copies.push(await until(lane.expectFrame("B2")));
    for (let i = 1; i < copies.length; i++) {
      expect((copies[i]?.at as number) - (copies[i - 1]?.at as number)).toBe(120);
      expect(copies[i]?.wire.seq).toBe(first.wire.seq);
      expect(copies[i]?.wire.raw.equals(first.wire.raw)).toBe(true);
    }
    expect(await until(gaveUp)).toMatchObject({
      frame: "B2",
      obuId,
      waitedFor: `C1 or C2 for OBU ${obuId}, or an empty ack`,
    });
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B2" });
    // Given up: not repeated again, not traded again while it stays in the zone.
    await until(left);
    expect(sentTo(frameLog, "B2", obuId).map((r) => r.note)).toEqual([
      undefined,
      "retransmit",
      "retransmit",
      "retransmit",
    ]);
  });

  it("retradeAfterGiveUp: a B3 given up before any payment is followed by a new transaction that pays", async () => {
    const scenario: ScenarioInput = {
      ...ONE,
      traffic: {
        vehicles: [{ id: "car", plate: "湘A12345", balance: 5000, zoneMs: 8000, retradeAfterGiveUp: true }],
      },
    };
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c1(obuId), b2);
    // The lane goes quiet after B3 (as one restarting would): three repeats, then the RSU gives up.
    for (let i = 0; i < 4; i++) await until(lane.expectFrame("B3"));
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B3", obuId });
    // Not released: the OBU answers the next BST, and the RSU reports it as a new transaction.
    const again = await until(lane.expectFrame("B2"));
    expect(again.frame.obuId).toBe(obuId);
    expect(sentTo(frameLog, "B2", obuId).map((r) => r.note)).toEqual([undefined, undefined]);
    const traded = next(sim.events$, (e) => e.type === "ended");
    await lane.send(lane.c1(obuId), again);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(obuId), b3);
    const b4 = await until(lane.expectFrame("B4"));
    await lane.send(lane.c6(b4.frame, 1234, PURCHASE_TIME), b4);
    const b5 = await until(lane.expectFrame("B5"));
    await lane.send(lane.c1(obuId), b5);
    expect(await until(traded)).toMatchObject({ outcome: "traded", obuId });
    expect(sim.ledger()).toMatchObject([{ obuId, amount: 1234, outcome: "done" }]);
    // Paid: not traded again while it stays in the zone.
    await until(next(sim.events$, (e) => e.type === "left"));
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(2);
  });

  // second review: the boundaries of the rule (b4 re-traded; a vehicle the lane stopped is not) were untested
  it("retradeAfterGiveUp: a B4 given up is followed by a new transaction (a new B2)", async () => {
    const scenario: ScenarioInput = {
      ...ONE,
      traffic: { vehicles: [{ id: "car", balance: 5000, zoneMs: 8000, retradeAfterGiveUp: true }] },
    };
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const { obuId } = await walkToB4(lane);
    for (let i = 0; i < 3; i++) await until(lane.expectFrame("B4"));
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B4", obuId });
    const again = await until(lane.expectFrame("B2"));
    expect(again.frame.obuId).toBe(obuId);
    expect(sentTo(frameLog, "B2", obuId).map((r) => r.note)).toEqual([undefined, undefined]);
  });

  it("retradeAfterGiveUp: a vehicle the lane stopped (C2 stop type 1) is not traded again in the zone", async () => {
    const scenario: ScenarioInput = {
      ...ONE,
      traffic: { vehicles: [{ id: "car", balance: 5000, zoneMs: 3000, retradeAfterGiveUp: true }] },
    };
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const left = next(sim.events$, (e) => e.type === "left");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c2(obuId, 1), b2);
    expect(await until(ended)).toMatchObject({ outcome: "stopped", obuId });
    await until(left);
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
  });

  // review: every `gave-up` was re-traded, a purchase torn after the debit (its card paid) included
  it("retradeAfterGiveUp: a B5 given up (a purchase torn after the debit) brings no new transaction", async () => {
    const scenario: ScenarioInput = {
      ...ONE,
      traffic: {
        vehicles: [
          {
            id: "car",
            balance: 5000,
            zoneMs: 8000,
            retradeAfterGiveUp: true,
            faults: [{ kind: "b5-lost", b5: "error", lingerMs: 3000 }],
          },
        ],
      },
    };
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const left = next(sim.events$, (e) => e.type === "left");
    const { b4, obuId } = await walkToB4(lane);
    await lane.send(lane.c6(b4.frame, 1234, PURCHASE_TIME), b4);
    // the uncertain B5 and its three repeats, unanswered (a lane restarting)
    for (let i = 0; i < 4; i++) await until(lane.expectFrame("B5"));
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B5", obuId });
    expect(sim.ledger()).toMatchObject([{ obuId, amount: 1234, outcome: "torn-after-debit" }]);
    await until(left);
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
  });

  it("retradeAfterGiveUp: a B5 00 given up is a paid vehicle, not traded again (recentSuccessMs 0)", async () => {
    const scenario: ScenarioInput = {
      ...ONE,
      rsu: { recentSuccessMs: 0 },
      traffic: { vehicles: [{ id: "car", balance: 5000, zoneMs: 4000, retradeAfterGiveUp: true }] },
    };
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const left = next(sim.events$, (e) => e.type === "left");
    const { b4, obuId } = await walkToB4(lane);
    await lane.send(lane.c6(b4.frame, 1234, PURCHASE_TIME), b4);
    for (let i = 0; i < 4; i++) await until(lane.expectFrame("B5"));
    expect(await until(ended)).toMatchObject({ outcome: "traded", detail: "no answer to B5", obuId });
    await until(left);
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
  });

  it("C2 stop type 1 ends the vehicle: no B3, the OBU is not traded again in the zone", async () => {
    const { lane, sim, frameLog } = await setup(protocol);
    const ended = next(sim.events$, (e) => e.type === "ended");
    const done = next(sim.events$, (e) => e.type === "done");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c2(obuId, 1), b2);
    expect(await until(ended)).toMatchObject({ outcome: "stopped", obuId });
    expect(await until(done)).toMatchObject({ outcome: "stopped", obuId });
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
    expect(sentTo(frameLog, "B3", obuId)).toHaveLength(0);
    expect(sim.ledger()).toHaveLength(0);
  });

  it("a lane frame the RSU ignores answers nothing: C2 stop type 2 to B2 leaves B2 repeating, then given up", async () => {
    const { lane, sim, frameLog } = await setup(protocol);
    const illegal = next(sim.events$, (e) => e.type === "illegal");
    const gaveUp = next(sim.events$, (e) => e.type === "gaveUp");
    const ended = next(sim.events$, (e) => e.type === "ended");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c2(obuId, 2), b2);
    expect(await until(illegal)).toMatchObject({
      frame: "C2",
      handling: "ignored: C2 resend is only legal after B3 or B4 (mode wait-b2)",
    });
    expect(await until(gaveUp)).toMatchObject({ frame: "B2", obuId });
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B2" });
    expect(sentTo(frameLog, "B2", obuId).map((r) => r.note)).toEqual([
      undefined,
      "retransmit",
      "retransmit",
      "retransmit",
    ]);
    expect(sim.mode).toBe("search");
  });

  it("C6 to a B4 error is ignored: B4 keeps being repeated, is given up, and the RSU searches again", async () => {
    const noCard: ScenarioInput = {
      startTime: "2025-01-02T10:00:00+08:00",
      traffic: { vehicles: [{ id: "nocard", zoneMs: 8000, card: { present: false } }] },
    };
    // legacy: heartbeats every second, which wait while an OBU is served
    const { lane, sim, frameLog } = await setup(protocol, noCard, { timing: { heartbeatMs: 1000 } });
    const illegal = next(sim.events$, (e) => e.type === "illegal");
    const ended = next(sim.events$, (e) => e.type === "ended");
    const { b4, obuId } = await walkToB4(lane);
    expect(b4.frame.errorCode).toBe(0x11);
    // The C6 a lane would build for a card (the B4 error has none).
    const card = { issuerId: "00".repeat(8), cardNetwork: "4301", vehicleClass: 1, plate: "" };
    const withCard = { ...b4.frame, issuerInfo: card } as unknown as typeof b4.frame;
    await lane.send(lane.c6(withCard, 800, PURCHASE_TIME), b4);
    expect(await until(illegal)).toMatchObject({ frame: "C6", handling: "ignored: C6 after a B4 error" });
    expect(await until(ended)).toMatchObject({ outcome: "gave-up", detail: "no answer to B4" });
    expect(sentTo(frameLog, "B4", obuId).map((r) => r.note)).toEqual([
      undefined,
      "retransmit",
      "retransmit",
      "retransmit",
    ]);
    expect(sim.mode).toBe("search");
    // Not silent: the next heartbeat goes out (legacy ones only while no OBU is served).
    lane.drain();
    await until(lane.expectFrame("HB", 2000));
  });

  it.each(["C1", "C2", "ACK"] as const)(
    "%s to a B8 for an OBU out of range, with no transaction: the RSU searches again",
    async (answer) => {
      const { lane, sim } = await setup(protocol);
      await lane.send(lane.c0());
      const b0 = await until(lane.expectFrame("B0"));
      await lane.send({ type: "ACK" }, b0);
      await lane.send(lane.c8("0badcafe", 1));
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toMatchObject({ obuId: "0badcafe", errorCode: 1 });
      // The vehicle enters while the B8 awaits its answer: no search yet.
      const entered = next(sim.events$, (e) => e.type === "entered");
      await lane.send(lane.c4(true));
      await until(entered);
      expect(sim.mode).toBe("wait-b8");
      const reply =
        answer === "C1" ? lane.c1("0badcafe") : answer === "C2" ? lane.c2("0badcafe", 1) : { type: "ACK" };
      await lane.send(reply as Frame, b8);
      const b2 = await until(lane.expectFrame("B2"));
      expect(b2.frame.obuId).toBe(sim.vehicles()[0]?.obuId);
    },
  );

  it("C0 again with the antenna opened at init and an OBU in the zone: B0, then that OBU's B2 once B0 is answered", async () => {
    const scenario = { ...ONE, rsu: { antennaOnAtInit: true } } as ScenarioInput;
    const { lane, sim, frameLog } = await setup(protocol, scenario);
    await lane.send(lane.c0());
    await lane.send({ type: "ACK" }, await until(lane.expectFrame("B0")));
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    // The lane re-initialises mid-transaction: the transaction is aborted, the RSU answers B0 and
    // searches only once B0 is answered (docs/simulator.md: C1 / ACK to B0).
    await lane.send(lane.c0());
    const b0 = await until(lane.expectFrame("B0"));
    expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
    await lane.send({ type: "ACK" }, b0);
    const again = await until(lane.expectFrame("B2"));
    expect(again.frame.obuId).toBe(obuId);
    await lane.send(lane.c1(obuId), again);
    expect((await until(lane.expectFrame("B3"))).frame.obuId).toBe(obuId);
    expect(frameLog.records.filter((r) => r.handling?.startsWith("error"))).toEqual([]);
    // the scenario's one vehicle, in the zone, its transaction still going on
    const [vehicle, ...others] = sim.vehicles();
    expect(others).toEqual([]);
    expect(vehicle).toMatchObject({ obuId, phase: "in-zone", complete: false });
    expect(vehicle?.outcome).toBeUndefined();
  });

  it.each(["C4 00 then C4 01", "C0"] as const)(
    "a paid transaction cut short by %s ends traded: the OBU is not served again, one debit",
    async (cut) => {
      const scenario: ScenarioInput = {
        ...ONE,
        traffic: { vehicles: [{ id: "car", balance: 5000, zoneMs: 5000 }] },
      };
      const { lane, sim, frameLog, events } = await setup(protocol, scenario);
      const { b4, obuId } = await walkToB4(lane);
      await lane.send(lane.c6(b4.frame, 800, PURCHASE_TIME), b4);
      const b5 = await until(lane.expectFrame("B5"));
      expect(b5.frame.errorCode).toBe(0);
      // Instead of C1 the lane closes and reopens the antenna, or re-initialises; from then on it
      // answers every frame (and pays for any OBU it is offered).
      const stop = autoExitLane(lane, 800, "20250102100105");
      if (cut === "C0") await lane.send(lane.c0());
      else {
        await lane.send(lane.c4(false));
        await lane.send(lane.c4(true));
      }
      await vi.advanceTimersByTimeAsync(5000);
      stop();
      expect(sim.ledger().map((e) => [e.obuId, e.amount])).toEqual([[obuId, 800]]);
      expect(sentTo(frameLog, "B2", obuId)).toHaveLength(1);
      expect(events.filter((e) => e.type === "ended")).toMatchObject([{ outcome: "traded", obuId }]);
      expect(sim.vehicles()[0]?.outcome).toBe("traded");
    },
  );

  it("an empty ack stops the retransmission", async () => {
    const { lane, sim, frameLog } = await setup(protocol);
    const left = next(sim.events$, (e) => e.type === "left");
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    await lane.send({ type: "ACK" }, b2);
    await until(left);
    expect(sentTo(frameLog, "B2", b2.frame.obuId as string)).toHaveLength(1);
  });
});

describe("a lane frame that does not decode is an illegal lane frame: stdout names it (docs/simulator.md)", () => {
  it.each([
    // C0 one byte short (no TransClass), as a lane written for another dialect sends it
    ["legacy", "C0", encodeLegacy(0x80, Buffer.from("c06b165e8c20261207072148040115", "hex"))],
    ["legacy", "C6", encodeLegacy(0x80, Buffer.from("c600", "hex"))],
    ["national", "C6", encodeNational(0x10, Buffer.from("c600", "hex"))],
  ] as const)(
    "%s: a too short %s is logged, ignored, and gets a `lane sent` line",
    async (protocol, type, bytes) => {
      const { pair, sim, frameLog } = await setup(protocol);
      const illegal = next(sim.events$, (e) => e.type === "illegal");
      await pair.lane.write(bytes);
      const e = await until(illegal);
      const handling = frameLog.records.find((r) => r.note === "undecodable")?.handling;
      expect(handling).toMatch(new RegExp(`^ignored: ${type} frame too short: `));
      expect(e).toMatchObject({ frame: type, handling });
      expect(describeEvent(e)).toMatch(
        new RegExp(`^\\[ *[0-9.]+s\\] lane sent ${type}: ignored: ${type} frame too short: `),
      );
    },
  );
});

/** Messages of the warnings the simulator logged (pino's level 40 and above). */
function warningsLogger(warnings: string[]): Logger {
  const noop = (): void => {};
  const l: Logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: (o, m) => warnings.push(`${typeof o === "string" ? o : m} ${JSON.stringify(o)}`),
    error: (o, m) => warnings.push(`${typeof o === "string" ? o : m} ${JSON.stringify(o)}`),
    child: () => l,
  };
  return l;
}

describe("RSU over TCP with no lane connected (the switch a TCP server hands its connections to)", () => {
  it("the heartbeats that fail while no lane is connected give one warning per disconnection; the frame log names each as not written", async () => {
    const warnings: string[] = [];
    const sw = new SwitchTransport("tcp-test");
    const frameLog = memoryFrameLog();
    const sim = createRsuSimulator({
      transport: sw,
      protocol: "legacy",
      scenario: { name: "empty" },
      timing: { heartbeatMs: 1000 },
      logger: warningsLogger(warnings),
      frameLog,
    });
    const connect = async (): Promise<{ lane: LaneDriver; disconnect: () => void }> => {
      const pair = createTransportPair();
      await pair.device.open();
      expect(sw.attach(pair.device)).toBe(true);
      const lane = new LaneDriver(pair.lane, "legacy");
      await lane.open();
      running.push({ sim, lane });
      return { lane, disconnect: () => pair.unplug() };
    };
    await sim.start();
    const first = await connect();
    await until(first.lane.init());
    await until(first.lane.expectFrame("HB", 2000));
    const failed = (): string[] => warnings.filter((w) => w.includes("write failed"));
    expect(failed()).toEqual([]);
    first.disconnect(); // the lane is gone: the switch drops its connection
    await vi.advanceTimersByTimeAsync(3500); // three heartbeats, none with a lane to go to
    expect(failed()).toHaveLength(1);
    expect(failed()[0]).toContain("no lane connected");
    // new-user walkthrough (session 36): each failed write's tx line is followed by a line naming that
    // frame as not written (it said only "lost: <error>")
    const lostAt = frameLog.records.flatMap((r, i) => (r.note?.startsWith("lost: ") ? [i] : []));
    expect(lostAt).toHaveLength(3);
    for (const i of lostAt) {
      const sent = frameLog.records[i - 1]!;
      const f = sent.frame as { type: string; seq: number };
      expect(sent).toMatchObject({ dir: "tx" });
      expect(frameLog.records[i]).toMatchObject({ dir: "tx", hex: "" });
      expect(frameLog.records[i]!.note).toMatch(
        new RegExp(
          `^lost: .*no lane connected.* \\(the ${f.type} seq ${f.seq} logged above was not written\\)$`,
        ),
      );
    }
    const again = await connect();
    await until(again.lane.expectFrame("HB", 2000)); // written: the failures are over
    again.disconnect();
    await vi.advanceTimersByTimeAsync(3500);
    expect(failed()).toHaveLength(2);
  });
});

describe("RSU over TCP: a new lane connection starts with an empty receiver (sim/rsu/switch-transport.ts)", () => {
  it.each(["legacy", "national"] as const)(
    "%s: a half frame a lane left when it died mid-write is dropped when the next lane connects, not merged with its first frame",
    async (protocol) => {
      const sw = new SwitchTransport("tcp-test");
      const sim = createRsuSimulator({ transport: sw, protocol, scenario: { name: "empty" } });
      const problems: ChannelProblem[] = [];
      sim.channel.problems$.subscribe((p) => problems.push(p));
      await sim.start();
      const connect = async (): Promise<{ pair: TransportPair; lane: LaneDriver }> => {
        const pair = createTransportPair();
        await pair.device.open();
        expect(sw.attach(pair.device)).toBe(true);
        const lane = new LaneDriver(pair.lane, protocol);
        await lane.open();
        running.push({ sim, lane });
        return { pair, lane };
      };
      const first = await connect();
      // The first lane dies after writing half its C0 (the half frame never expires: no time passes).
      const c0 = encodeFrame(first.lane.c0(), protocol === "legacy" ? 0x80 : 0x10, defaultDialect(protocol));
      const half = c0.subarray(0, Math.floor(c0.length / 2));
      const received = firstValueFrom(sw.data$);
      await first.pair.lane.write(half);
      await until(received); // the simulator's channel has the half frame (it subscribed first)
      first.pair.unplug();
      const second = await connect();
      await second.lane.send(second.lane.c0());
      const b0 = await until(second.lane.expectFrame("B0"));
      expect(b0.frame.rsuStatus).toBe(0);
      // The stale half frame was dropped whole as noise when the second lane connected; the second lane's
      // C0 was no part of a checksum error or of any discarded bytes.
      expect(sim.channel.counters.checksumErrors).toBe(0);
      expect(problems.map((p) => [p.kind, "bytes" in p ? p.bytes.toString("hex") : ""])).toEqual([
        ["discarded", half.toString("hex")],
      ]);
      expect(sim.channel.counters.discardedBytes).toBe(half.length);
    },
  );
});

describe("national RSU: C0 PLLChannelID as the reference defines it (01H channel 1, 02H channel 2)", () => {
  const c0With = (lane: LaneDriver, pllChannelId: number): Frame =>
    ({ ...(lane.c0() as object), pllChannelId }) as Frame;

  it("02: initialised, its heartbeat's antenna on channel 2 (B1 channel 01)", async () => {
    const { lane } = await setup("national", { name: "empty" }, { timing: { heartbeatMs: 100 } });
    await lane.send(c0With(lane, 2));
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.frame.rsuStatus).toBe(0);
    const hb = await until(lane.expectFrame("HB"));
    expect((hb.frame as unknown as { antennas: unknown }).antennas).toEqual([
      { antennaId: 1, status: 0, channel: 1, power: 0x15 },
    ]);
  });

  it("00 is no channel: B0 RSUStatus 03 (initialisation error), the RSU stays uninitialised", async () => {
    const { lane, sim, frameLog } = await setup(
      "national",
      { name: "empty" },
      { timing: { heartbeatMs: 100 } },
    );
    await lane.send(c0With(lane, 0));
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.frame.rsuStatus).toBe(3);
    expect(frameLog.records.find((r) => r.dir === "rx" && r.frame?.type === "C0")?.handling).toBe(
      "refused: PLLChannelID 00 is no channel (01H channel 1, 02H channel 2): B0 RSUStatus 03",
    );
    await lane.send({ type: "ACK" }, b0);
    const c4 = next(sim.events$, (e) => e.type === "illegal" && e.frame === "C4");
    await lane.send(lane.c4(true));
    expect(await until(c4)).toMatchObject({ handling: "ignored: RSU not initialised (needs C0), got C4" });
    expect(sim.mode).toBe("off");
  });
});

describe("national RSU: the B0 RSUStatus 03 that refuses a C0 is answered as any B0", () => {
  const refusingC0 = (lane: LaneDriver): Frame => ({ ...(lane.c0() as object), pllChannelId: 0 }) as Frame;

  it("the lane's empty ack to it stops its repetition: one B0, no give-up, no notice", async () => {
    const { lane, sim, frameLog, events } = await setup("national", { name: "empty" });
    await lane.send(refusingC0(lane));
    const b0 = await until(lane.expectFrame("B0"));
    expect(b0.frame.rsuStatus).toBe(3);
    await lane.send({ type: "ACK" }, b0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(frameLog.records.filter((r) => r.dir === "tx" && r.frame?.type === "B0")).toHaveLength(1);
    expect(frameLog.records.find((r) => r.dir === "rx" && r.frame?.type === "ACK")?.handling).toBe(
      "acknowledges B0 (the RSU stays uninitialised: it needs a C0 it can take)",
    );
    expect(events.filter((e) => e.type === "gaveUp" || e.type === "notice" || e.type === "illegal")).toEqual(
      [],
    );
    expect(sim.mode).toBe("off");
  });

  it("left unanswered, it is given up and the notice says the RSU is not initialised", async () => {
    const warnings: string[] = [];
    const { lane, sim, events } = await setup(
      "national",
      { name: "empty" },
      { logger: warningsLogger(warnings) },
    );
    const notice = next(sim.events$, (e) => e.type === "notice");
    await lane.send(refusingC0(lane));
    expect(await until(notice)).toMatchObject({
      code: "b0-unanswered",
      message:
        "the lane never answered B0 RSUStatus 03 (expected C1 or an empty ack (or a new C0)); the RSU is not initialised: only a C0 is answered",
    });
    expect(events.filter((e) => e.type === "gaveUp")).toMatchObject([{ frame: "B0" }]);
    expect(sim.mode).toBe("off");
    // the notice is the event (etc-sim rsu prints it): not a warning too, printed twice on a terminal
    expect(warnings.filter((w) => w.includes("never answered B0"))).toEqual([]);
  });
});

describe("legacy RSU: the reference's other antenna frame 4C (Ante 01 far, 02 near), and C7", () => {
  it.each([
    [1, "far"],
    [2, "near"],
  ] as const)(
    "4C %i opens the antenna as C4 01 does: answers nothing, the OBU's B2 follows, the log names the %s antenna",
    async (ante, which) => {
      const { lane, sim, frameLog, events } = await setup("legacy");
      await lane.send(lane.c0());
      const b0 = await until(lane.expectFrame("B0"));
      await lane.send({ type: "ACK" }, b0);
      expect(sim.mode).toBe("idle");
      await lane.send({ type: "4C", ante } as Frame);
      const b2 = await until(lane.expectFrame("B2"));
      // the scenario's OBU, not the heartbeat's B2 (OBUID 00000000), which comes with the antenna closed too
      expect(b2.frame.obuId).toMatch(/^[0-9a-f]{8}$/);
      expect(b2.frame.obuId).not.toBe("00000000");
      const rx = frameLog.records.find((r) => r.dir === "rx" && r.frame?.type === "4C");
      expect(rx?.handling).toBe(`antenna on (4C 0${ante}: the ${which} antenna)`);
      expect(events.filter((e) => e.type === "illegal")).toEqual([]);
      // the B2 is the only frame the RSU sent after B0: no answer to the 4C
      expect(lane.received.map((r) => r.frame.type)).toEqual(["B0", "B2"]);
    },
  );

  it("4C with another Ante is ignored as an illegal lane frame, the antenna stays closed", async () => {
    const { lane, sim } = await setup("legacy");
    await lane.send(lane.c0());
    await lane.send({ type: "ACK" }, await until(lane.expectFrame("B0")));
    const illegal = next(sim.events$, (e) => e.type === "illegal");
    await lane.send({ type: "4C", ante: 0 } as Frame);
    expect(await until(illegal)).toMatchObject({
      frame: "4C",
      handling: "ignored: 4C Ante 00 is no antenna (01 far, 02 near)",
    });
    expect(sim.mode).toBe("idle");
  });

  it("C7 (exception handling, not modelled: docs/protocol.md §3) is an undecodable, illegal lane frame", async () => {
    const { pair, sim, frameLog } = await setup("legacy");
    const illegal = next(sim.events$, (e) => e.type === "illegal");
    await pair.lane.write(encodeLegacy(0x80, Buffer.from(`c7${"00".repeat(59)}`, "hex")));
    const e = await until(illegal);
    expect(e).toMatchObject({
      frame: "0xc7",
      handling: `ignored: unknown legacy frame type 0xc7; body "${"00".repeat(59)}"`,
    });
    expect(frameLog.records.find((r) => r.dir === "rx")?.note).toBe("undecodable");
  });
});

describe("legacy RSU: C3 entry write", () => {
  it("takes the C3 the lane sends (Station 36 bytes, in the default 40-byte Station dialect): B5 00, the card holds the entry", async () => {
    const { lane, sim, frameLog } = await setup("legacy");
    const { b4 } = await walkToB4(lane);
    const { consumeMoney: _, ...c6 } = lane.c6(b4.frame, 0, PURCHASE_TIME, "0301", 2) as Frame &
      Record<string, unknown>;
    const c3 = { ...c6, type: "C3", station: { ...(c6.station as object), status: 0x03 } } as Frame;
    await lane.send(c3, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    // the simulator took the C3 as the lane sent it: type + 59 bytes of DATA, a normal step
    const rx = frameLog.records.find((r) => r.dir === "rx" && r.frame?.type === "C3");
    const raw = Buffer.from(rx?.hex ?? "", "hex");
    const wire = new LegacyDeframer().push(raw, 0).find((e) => e.kind === "frame");
    expect(wire?.kind === "frame" ? wire.frame.data.length : -1).toBe(1 + 59);
    expect([rx?.note, rx?.handling]).toEqual([undefined, undefined]);
    const card = sim.cards()[0];
    expect(card?.balance).toBe(5000);
    expect(card?.file0019).toMatchObject({ status: 3, station: "0301", lane: 2, reserved: "00000000" });
  });
});

describe("legacy RSU: a C6 whose Station time is 0 (the lane lets the RSU stamp it)", () => {
  it("B5 WrFileTime is the RSU's clock: the scenario's startTime plus the time since power-on, not the host's", async () => {
    // the host's clock (vitest's fake Date) far from the scenario's 2025-01-02
    vi.setSystemTime(Date.UTC(2031, 5, 1));
    const { lane, sim, frameLog } = await setup("legacy");
    const { b4 } = await walkToB4(lane);
    const c6 = lane.c6(b4.frame, 100, PURCHASE_TIME) as Frame & { station: Record<string, unknown> };
    await lane.send({ ...c6, station: { ...c6.station, time: 0 } } as Frame, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    const tx = frameLog.records.find((r) => r.dir === "tx" && r.frame?.type === "B5");
    const at = Date.parse(ONE.startTime as string) + (tx?.t ?? Number.NaN);
    expect(b5.frame.wrFileTime).toBe(toWireUnix(sim.dialect, at));
  });
});

describe("a C6 whose Station time is 0: the 0019 written to the card", () => {
  async function payWithTimeZero(protocol: "legacy" | "national", extra: Record<string, unknown> = {}) {
    const { lane, sim } = await setup(protocol, ONE, extra);
    const { b4 } = await walkToB4(lane);
    const c6 = lane.c6(b4.frame, 100, PURCHASE_TIME) as Frame & { station: Record<string, unknown> };
    await lane.send({ ...c6, station: { ...c6.station, time: 0 } } as Frame, b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.errorCode).toBe(0);
    return { sim, b5 };
  }

  it("legacy: the card's 0019 gets the time B5 WrFileTime reports (the RSU stamps the record it writes)", async () => {
    const { sim, b5 } = await payWithTimeZero("legacy");
    const stamped = b5.frame.wrFileTime as number;
    expect(stamped).toBeGreaterThan(0);
    expect(sim.cards()[0]?.file0019).toMatchObject({ time: stamped, station: "0201", lane: 3 });
    // The TAC covers no 0019 field (docs/card-crypto.md §1.3: the date and time it MACs are the C6
    // PurchaseTime): it still verifies.
    const [entry] = sim.ledger();
    expect(verifyTac({ ...entry!, algId: undefined }, keys).ok).toBe(true);
  });

  // second review of the card time base: with the two bases apart, the card's time is the instant WrFileTime
  // reports, in the card's base (sim/rsu/transaction.ts purchase), not WrFileTime's bytes
  it("legacy with cardTimeBase utc (timeBase local-as-utc): the card's 0019 holds WrFileTime's instant in the card's base", async () => {
    const { sim, b5 } = await payWithTimeZero("legacy", { dialect: { cardTimeBase: "utc" } });
    expect([sim.dialect.timeBase, sim.dialect.cardTimeBase]).toEqual(["local-as-utc", "utc"]);
    const stamped = b5.frame.wrFileTime as number;
    const at = fromWireUnix(sim.dialect, stamped);
    expect(at).toBeGreaterThan(Date.UTC(2025, 0, 1));
    // UTC+8: the same instant 8 h less as utc than as local-as-utc
    expect(sim.cards()[0]?.file0019).toMatchObject({ time: at / 1000, station: "0201", lane: 3 });
    expect(sim.cards()[0]?.file0019.time).toBe(stamped - 8 * 3600);
  });

  it("national (B5 carries no WrFileTime): the record is written as the lane sent it, time 0", async () => {
    const { sim, b5 } = await payWithTimeZero("national");
    expect(b5.frame.wrFileTime).toBeUndefined();
    expect(sim.cards()[0]?.file0019).toMatchObject({ time: 0, station: "0201", lane: 3 });
  });
});

describe("legacy RSU: a lane that sends every frame with RSCTL 0x80 (lane frames are accepted with any RSCTL)", () => {
  const FIXED = 0x80;

  /** C0, B0 answered, C4 01, all at RSCTL 0x80; the first OBU's B2 (RSCTL 08, whose reply is 80 too). */
  async function fixedLaneToB2(lane: LaneDriver) {
    await lane.send(lane.c0(), FIXED);
    const b0 = await until(lane.expectFrame("B0"));
    await lane.send({ type: "ACK" }, FIXED);
    await lane.send(lane.c4(true), FIXED);
    const b2 = await until(lane.expectFrame("B2"));
    return { b0, b2, obuId: b2.frame.obuId as string };
  }

  it("its C1 to a B3 is taken though its C1 to the B2 before (sent once) carried the B2's reply RSCTL by chance", async () => {
    const { lane, frameLog } = await setup("legacy");
    const { b0, b2, obuId } = await fixedLaneToB2(lane);
    expect([b0.wire.seq, b2.wire.seq]).toEqual([0x98, 0x08]);
    await lane.send(lane.c1(obuId), FIXED);
    const b3 = await until(lane.expectFrame("B3"));
    expect(b3.wire.seq).toBe(0x18);
    await lane.send(lane.c1(obuId), FIXED);
    expect((await until(lane.expectFrame("B4"))).frame.obuId).toBe(obuId);
    expect(sentTo(frameLog, "B3", obuId)).toHaveLength(1);
    expect(frameLog.records.filter((r) => r.handling?.startsWith("ignored"))).toEqual([]);
  });

  it("a B2 that went out twice: the lane's repeat of its C1 is ignored once, then its C1 to the B3 is taken", async () => {
    const { lane, frameLog } = await setup("legacy");
    const { b2, obuId } = await fixedLaneToB2(lane);
    const again = await until(lane.expectFrame("B2"));
    expect(again.wire.raw.equals(b2.wire.raw)).toBe(true);
    // A deduplicating lane answers the B2 and resends its cached C1 for the repeat.
    await lane.send(lane.c1(obuId), FIXED);
    await lane.send(lane.c1(obuId), FIXED);
    const b3 = await until(lane.expectFrame("B3"));
    await lane.send(lane.c1(obuId), FIXED);
    expect((await until(lane.expectFrame("B4"))).frame.obuId).toBe(obuId);
    expect(sentTo(frameLog, "B3", obuId).map((r) => r.hex)).toEqual([b3.wire.raw.toString("hex")]);
    expect(
      frameLog.records.filter((r) => r.dir === "rx" && r.frame?.type === "C1").map((r) => r.handling),
    ).toEqual([undefined, "ignored: repeat of the answer to the previous frame", undefined]);
  });
});
