import { afterEach, describe, expect, it } from "vitest";
import { RSU_REBOOT_RSCTL } from "../../firmware-bridge/framing/legacy.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { loadCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import { createRsuSimulator, type RsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { LaneDriver } from "./lane-driver.js";

const keys = loadCardKeys();
const running: { sim: RsuSimulator; lane: LaneDriver }[] = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    r.lane.close();
    await r.sim.stop();
  }
});

const ONE: ScenarioInput = {
  name: "one",
  startTime: "2025-01-02T10:00:00+08:00",
  traffic: {
    vehicles: [{ id: "car", plate: "湘A12345", class: 1, balance: 5000, entryStation: "0101", zoneMs: 4000 }],
  },
};

async function setup(
  protocol: "legacy" | "national",
  scenario: ScenarioInput = ONE,
  extra: Record<string, unknown> = {},
) {
  const pair = createTransportPair();
  const frameLog = memoryFrameLog();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    scenario,
    seed: 7,
    frameLog,
    timing: { heartbeatMs: 60_000 },
    cable: pair,
    ...extra,
  });
  const lane = new LaneDriver(pair.lane, protocol);
  await lane.open();
  await sim.start();
  const events: SimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  running.push({ sim, lane });
  return { pair, sim, lane, frameLog, events };
}

const PURCHASE_TIME = "20250102100005";

describe.each(["legacy", "national"] as const)("%s RSU", (protocol) => {
  it("answers C0 with B0 carrying the PSAM terminal id, vendor and version", async () => {
    const { lane } = await setup(protocol);
    await lane.send(lane.c0());
    const b0 = await lane.expectFrame("B0");
    const f = b0.frame as Record<string, unknown>;
    expect(f.rsuStatus).toBe(0);
    expect(f.rsuManuId).toBe(8);
    expect(f.rsuVersion).toBe("0100");
    if (protocol === "legacy") {
      expect(f.rsuTerminalId1).toBe("430100000001");
      expect(b0.wire.seq).toBe(RSU_REBOOT_RSCTL); // first frame after power-on
    } else {
      expect((f.psams as { terminalId: string }[])[0]?.terminalId).toBe("430100000001");
      expect(b0.wire.seq).toBe(0x01);
    }
  });

  it("walks B2 -> B3 -> B4 -> B5 on C1, C1, C6; the TAC verifies and the card moves on", async () => {
    const { lane, sim, events } = await setup(protocol);
    await lane.init();
    const b2 = await lane.expectFrame("B2");
    const obuId = b2.frame.obuId as string;
    expect(b2.frame.errorCode).toBe(0);
    expect(b2.frame.serialNumber).toMatch(/^\d{16}$/);
    await lane.send(lane.c1(obuId), b2);
    const b3 = await lane.expectFrame("B3");
    const plate =
      protocol === "legacy" ? b3.frame.plateNumber : (b3.frame.vehicleInfo as { plate: string }).plate;
    expect(plate).toBe("湘A12345");
    await lane.send(lane.c1(obuId), b3);
    const b4 = await lane.expectFrame("B4");
    expect(b4.frame.cardRestMoney).toBe(5000);
    const before = sim.cards()[0];
    expect(before?.offlineSerial).toBe(1);
    await lane.send(lane.c6(b4.frame, 1234, PURCHASE_TIME), b4);
    const b5 = await lane.expectFrame("B5");
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
    await lane.send(lane.c1(obuId), b5);
    await expect.poll(() => events.some((e) => e.type === "ended" && e.outcome === "traded")).toBe(true);
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
    // Traded: the OBU is not traded again while it stays in the zone.
    expect(await lane.collect("B2", 400)).toHaveLength(0);
  });

  it("retransmits an unanswered B2 exactly 3 times about 120 ms apart, then gives up on that OBU", async () => {
    const { lane, events } = await setup(protocol);
    await lane.init();
    const first = await lane.expectFrame("B2");
    const repeats = await lane.collect("B2", 900);
    expect(repeats).toHaveLength(3);
    const times = [first, ...repeats].map((r) => r.at);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      expect(gap).toBeGreaterThan(90);
      expect(gap).toBeLessThan(250);
    }
    for (const r of repeats) {
      expect(r.wire.seq).toBe(first.wire.seq);
      expect(r.wire.raw.equals(first.wire.raw)).toBe(true);
    }
    expect(events.some((e) => e.type === "gaveUp" && e.frame === "B2")).toBe(true);
    expect(events.some((e) => e.type === "ended" && e.outcome === "gave-up")).toBe(true);
  });

  it("C2 stop type 1 ends the vehicle: no B3, the OBU is not traded again in the zone", async () => {
    const { lane, sim, events } = await setup(protocol);
    await lane.init();
    const b2 = await lane.expectFrame("B2");
    await lane.send(lane.c2(b2.frame.obuId as string, 1), b2);
    await expect.poll(() => events.some((e) => e.type === "ended" && e.outcome === "stopped")).toBe(true);
    expect(await lane.collect("B2", 300)).toHaveLength(0);
    expect(await lane.collect("B3", 1)).toHaveLength(0);
    expect(sim.ledger()).toHaveLength(0);
  });

  it("an empty ack stops the retransmission", async () => {
    const { lane } = await setup(protocol);
    await lane.init();
    const b2 = await lane.expectFrame("B2");
    await lane.send({ type: "ACK" }, b2);
    expect(await lane.collect("B2", 500)).toHaveLength(0);
  });
});
