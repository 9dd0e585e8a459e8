/**
 * An empty ack is a legal answer to any RSU frame (the legacy acknowledgement rule, docs/protocol.md §5;
 * the RSU's own give-up text names it, sim/rsu/link.ts `answersFor`): to an OBU's B2..B5 or B8 in range it
 * ends that OBU's transaction and the RSU serves the next OBU (docs/simulator.md, "Modes and what each
 * lane frame gets"). Before, the RSU waited for the OBU to leave: no other OBU served, no legacy heartbeat.
 * Each row checks the outcome, the ledger line (`done`, the amount) and the card's balance; the error frame
 * (`failed`), OBU-gone (`abandoned`, `traded` after the debit) and set-aside (the transaction a C8 set aside
 * goes on) cases check the other ways `DsrcTransactions.onAck` in sim/rsu/transaction.ts ends one.
 */
import { describe, expect, it } from "vitest";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { isHeartbeat } from "../../firmware-bridge/frames/catalogue.js";
import type { ReceivedFrame } from "../../firmware-bridge/link/frame-channel.js";
import type { CardSnapshot } from "../../sim/card/types.js";
import type { RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, startSimAndLane, until, VEHICLE_A } from "./fake-time.js";
import type { LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

/** Vehicle a long in the zone; b arrives while a's transaction goes on. */
const TWO: ScenarioInput = {
  name: "two",
  startTime: "2025-01-02T10:00:00+08:00",
  traffic: {
    vehicles: [
      VEHICLE_A,
      { id: "b", plate: "湘A12346", class: 1, balance: 5000, entryStation: "0101", zoneMs: 3000, at: 500 },
    ],
  },
};

function setup(protocol: "legacy" | "national", scenario: ScenarioInput = TWO) {
  return startSimAndLane(running, { protocol, scenario, seed: 7, timing: { heartbeatMs: 2000 } });
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
  // the ledger lines and a's card balance after (a's C6 debits 100 of its 5000)
  const paid = [{ vehicleId: "a", outcome: "done", amount: 100, balanceBefore: 5000, balanceAfter: 4900 }];
  it.each([
    ["B2", "stopped", [], 5000],
    ["B3", "stopped", [], 5000],
    ["B4", "stopped", [], 5000],
    ["B5", "traded", paid, 4900],
    ["B8", "traded", paid, 4900],
  ] as const)(
    "to its %s ends its transaction (%s); the next OBU is served, heartbeats go on",
    async (step, outcome, ledger, balance) => {
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
      expect(sim.ledger()).toMatchObject(ledger);
      expect(sim.ledger()).toHaveLength(ledger.length);
      expect(cardOf(sim, "a")?.balance).toBe(balance);
    },
  );

  it("to an error frame (B3 ErrorCode 09 after a C1 with another issuer's divisor): failed, not stopped", async () => {
    const { sim, lane } = await setup(protocol);
    await until(lane.init());
    const b2 = await until(lane.expectFrame("B2"));
    const obuId = b2.frame.obuId as string;
    await lane.send(lane.c1(obuId, "00".repeat(8)), b2);
    const b3 = await until(lane.expectFrame("B3"));
    expect(b3.frame).toMatchObject({ obuId, errorCode: 0x09 });
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b3);
    expect(await until(ended)).toMatchObject({ obuId, outcome: "failed", detail: "empty ack to B3" });
    expect(sim.ledger()).toEqual([]);
  });

  it("to a B5 error (a C6 for more than the balance): failed, nothing debited", async () => {
    const { sim, lane, events } = await setup(protocol);
    const { got: b4, obuId } = await walkTo(lane, "B4");
    await lane.send(lane.c6(b4.frame as Frame & Record<string, unknown>, 6000, "20250102100005"), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame.obuId).toBe(obuId);
    expect(b5.frame.errorCode).not.toBe(0);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b5);
    expect(await until(ended)).toMatchObject({ obuId, outcome: "failed", detail: "empty ack to B5" });
    expect(sim.ledger()).toEqual([]);
    expect(cardOf(sim, "a")?.balance).toBe(5000);
    expect(events.filter((e) => e.type === "ended")).toHaveLength(1);
  });
});

describe.each(["legacy", "national"] as const)("%s RSU: an empty ack after the OBU left", (protocol) => {
  const one = (fault: unknown): ScenarioInput =>
    ({
      name: "one",
      startTime: "2025-01-02T10:00:00+08:00",
      traffic: {
        vehicles: [{ ...VEHICLE_A, faults: [fault] }],
      },
    }) as ScenarioInput;

  it("to the B4 it could not read (leave-before-b4): abandoned", async () => {
    const { sim, lane } = await setup(protocol, one("leave-before-b4"));
    const { got: b3, obuId } = await walkTo(lane, "B3");
    const left = next(sim.events$, (e) => e.type === "left" && e.obuId === obuId);
    await lane.send(lane.c1(obuId), b3);
    const b4 = await until(lane.expectFrame("B4"));
    expect(b4.frame).toMatchObject({ obuId, errorCode: 0x01 });
    await until(left);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b4);
    expect(await until(ended)).toMatchObject({
      obuId,
      outcome: "abandoned",
      detail: "empty ack to B4, OBU gone",
    });
  });

  it("to the B5 of a purchase torn before the debit (leave-during-debit): abandoned, nothing debited", async () => {
    const { sim, lane } = await setup(protocol, one("leave-during-debit"));
    const { got: b4, obuId } = await walkTo(lane, "B4");
    const left = next(sim.events$, (e) => e.type === "left" && e.obuId === obuId);
    await lane.send(lane.c6(b4.frame as Frame & Record<string, unknown>, 100, "20250102100005"), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame).toMatchObject({ obuId, errorCode: 0x01 });
    await until(left);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b5);
    expect(await until(ended)).toMatchObject({
      obuId,
      outcome: "abandoned",
      detail: "empty ack to B5, OBU gone",
    });
    expect(sim.ledger()).toEqual([]);
    expect(cardOf(sim, "a")?.balance).toBe(5000);
  });

  it("to the B8 00 of a C8 after a lost B5, the OBU gone since: traded", async () => {
    // the debit is made, its B5 lost (B5 01); the OBU leaves 100 ms after the debit, after the B8's first copy
    const { sim, lane } = await setup(protocol, one({ kind: "b5-lost", lingerMs: 100 }));
    const { got: b4, obuId } = await walkTo(lane, "B4");
    const left = next(sim.events$, (e) => e.type === "left" && e.obuId === obuId);
    await lane.send(lane.c6(b4.frame as Frame & Record<string, unknown>, 100, "20250102100005"), b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame).toMatchObject({ obuId, errorCode: 0x01 });
    await lane.send(lane.c8(obuId, b5.frame.iccPaySerial as number), b5);
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ obuId, errorCode: 0 });
    await until(left);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await lane.send({ type: "ACK" }, b8);
    expect(await until(ended)).toMatchObject({
      obuId,
      outcome: "traded",
      detail: "empty ack to B8, OBU gone",
    });
    expect(sim.ledger()).toMatchObject([{ vehicleId: "a", outcome: "torn-after-debit", balanceAfter: 4900 }]);
    expect(cardOf(sim, "a")?.balance).toBe(4900);
  });
});

describe.each(["legacy", "national"] as const)(
  "%s RSU: an empty ack to a C8's B8 while another OBU's transaction is set aside",
  (protocol) => {
    it("ends the B8's transaction; the set-aside one goes on (its B2 repeated under its RSCTL/SEQ, C1 moves it on)", async () => {
      const { sim, lane, events } = await setup(protocol);
      const { got: b5, obuId: a } = await walkTo(lane, "B5");
      // the lane does not answer a's B5 00: the RSU gives up on it and serves b
      const b2 = await until(lane.expectFrame("B2", 2000, (f) => f.obuId !== a));
      const b = b2.frame.obuId as string;
      await lane.send(lane.c8(a, (b5.frame as Frame & { iccPaySerial: number }).iccPaySerial));
      const b8 = await until(lane.expectFrame("B8"));
      expect(b8.frame).toMatchObject({ obuId: a, errorCode: 0, tac: sim.ledger()[0]?.tac });
      lane.drain();
      await lane.send({ type: "ACK" }, b8);
      const again = await until(lane.expectFrame("B2", 2000, (f) => f.obuId === b));
      expect(again.wire.seq).toBe(b2.wire.seq);
      await lane.send(lane.c1(b), again);
      expect((await until(lane.expectFrame("B3", 2000, (f) => f.obuId === b))).frame.errorCode).toBe(0);
      expect(events.filter((e) => e.type === "ended").map((e) => [e.vehicleId, e.outcome, e.detail])).toEqual(
        [
          ["a", "traded", "no answer to B5"],
          ["a", "traded", "empty ack to B8"],
        ],
      );
      expect(sim.ledger()).toMatchObject([{ vehicleId: "a", outcome: "done", balanceAfter: 4900 }]);
      expect(sim.ledger()).toHaveLength(1);
      expect(cardOf(sim, "a")?.balance).toBe(4900);
    });
  },
);

/** The card of vehicle `id` as it stands now. */
function cardOf(sim: RsuSimulator, id: string): CardSnapshot | undefined {
  const cardId = sim.vehicles().find((v) => v.id === id)?.cardId;
  return sim.cards().find((c) => c.cardId === cardId);
}
