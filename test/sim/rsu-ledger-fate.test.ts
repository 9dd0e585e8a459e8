/**
 * The ledger line of a debit waits for its B5 00's fate (sim/rsu/link.ts `Fate`): `done` once a copy went
 * out intact, `torn-after-debit` once the frame is over with none written: every copy damaged, the B5
 * set aside for a C8 and its transaction ended, no lane connected, or the RSU stopped while it was
 * still repeated. Each debit has its line when its fate is decided, numbered in that order.
 */
import { describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { memoryFrameLog } from "../../sim/framelog/frame-log.js";
import type { LedgerEntry, LedgerSink } from "../../sim/ledger/ledger.js";
import { createRsuSimulator, type SimEvent } from "../../sim/rsu/rsu-simulator.js";
import { SwitchTransport } from "../../sim/rsu/switch-transport.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import { next, simulatorsOnFakeTime, until } from "./fake-time.js";
import { LaneDriver } from "./lane-driver.js";

const running = simulatorsOnFakeTime();

const PT = "20250102100005";

async function setup(
  protocol: "legacy" | "national",
  vehicles: Record<string, unknown>[],
  o: { retransmitMs?: number; ledger?: LedgerSink } = {},
) {
  const pair = createTransportPair();
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol,
    seed: 3,
    timing: {
      heartbeatMs: 60_000,
      ...(o.retransmitMs === undefined ? {} : { retransmitMs: o.retransmitMs }),
    },
    ...(o.ledger ? { ledger: o.ledger } : {}),
    scenario: { startTime: "2025-01-02T10:00:00+08:00", traffic: { vehicles } } as ScenarioInput,
  });
  const lane = new LaneDriver(pair.lane, protocol);
  await lane.open();
  await sim.start();
  const events: SimEvent[] = [];
  sim.events$.subscribe((e) => events.push(e));
  running.push({ sim, lane });
  return { pair, sim, lane, events };
}

/** The next B2, then C1 to it and to B3: the B4 of that OBU. */
async function walkFromB2(lane: LaneDriver) {
  const b2 = await until(lane.expectFrame("B2"));
  const obuId = b2.frame.obuId as string;
  await lane.send(lane.c1(obuId), b2);
  const b3 = await until(lane.expectFrame("B3"));
  await lane.send(lane.c1(obuId), b3);
  return { obuId, b4: await until(lane.expectFrame("B4")) };
}

const badB5 = (times: number) => [{ kind: "bad-checksum", frame: "B5", times }];

describe.each(["legacy", "national"] as const)("%s ledger fate", (protocol) => {
  it("a B5 00 set aside for a C8 before any copy went out intact, its OBU gone when taken up again: torn-after-debit then, numbered before later debits", async () => {
    // The B5 00's repeats come 5 s apart, so the C8 comes before the first one and A leaves meanwhile.
    const { sim, lane, events } = await setup(
      protocol,
      [
        { id: "A", at: 0, balance: 5000, zoneMs: 2000, faults: badB5(2) },
        { id: "B", at: 0, balance: 5000, zoneMs: 60_000 },
        { id: "C", at: 0, balance: 5000, zoneMs: 60_000 },
      ],
      { retransmitMs: 5000 },
    );
    await until(lane.init());
    const a = await walkFromB2(lane);
    const damaged = next(sim.events$, (e) => e.type === "fault" && e.fault === "bad-checksum");
    await lane.send(lane.c6(a.b4.frame, 700, PT), a.b4);
    await until(damaged);
    // A's B5 00 went out damaged; before its repeat, a C8 for B (in range): A's transaction is set aside.
    const bObu = sim.vehicles().find((v) => v.id === "B")?.obuId as string;
    await lane.send(lane.c8(bObu, 1));
    const b8 = await until(lane.expectFrame("B8"));
    expect(b8.frame).toMatchObject({ obuId: bObu, errorCode: 3 });
    await until(next(sim.events$, (e) => e.type === "left" && e.vehicleId === "A"));
    expect(sim.ledger()).toEqual([]);
    const aEnded = next(sim.events$, (e) => e.type === "ended" && e.vehicleId === "A");
    await lane.send(lane.c1(bObu), b8);
    expect(await until(aEnded)).toMatchObject({ outcome: "traded", detail: "OBU left" });
    // No copy of A's B5 00 reached the lane and none will: its line is written now.
    expect(sim.ledger().map((e) => [e.vehicleId, e.outcome, e.seq])).toEqual([["A", "torn-after-debit", 1]]);
    // The RSU goes on with C; its debit comes after A's.
    const c = await walkFromB2(lane);
    expect(c.obuId).toBe(sim.vehicles().find((v) => v.id === "C")?.obuId);
    await lane.send(lane.c6(c.b4.frame, 300, PT), c.b4);
    const b5 = await until(lane.expectFrame("B5"));
    expect(b5.frame).toMatchObject({ obuId: c.obuId, errorCode: 0 });
    expect(sim.ledger().map((e) => [e.vehicleId, e.outcome, e.seq])).toEqual([
      ["A", "torn-after-debit", 1],
      ["C", "done", 2],
    ]);
    expect(
      events.filter((e) => e.type === "ledger").map((e) => e.type === "ledger" && e.entry.vehicleId),
    ).toEqual(["A", "C"]);
  });
  it("the RSU stops while a B5 00 of which no copy went out intact is still repeated: its line, torn-after-debit, is written before the ledger closes", async () => {
    const calls: string[] = [];
    const sink: LedgerSink = {
      append: (e: LedgerEntry) => calls.push(`append ${e.vehicleId} ${e.outcome}`),
      close: () => calls.push("close"),
    };
    const { sim, lane } = await setup(
      protocol,
      [{ id: "A", balance: 5000, zoneMs: 60_000, faults: badB5(4) }],
      {
        ledger: sink,
      },
    );
    await until(lane.init());
    const a = await walkFromB2(lane);
    const damaged = next(sim.events$, (e) => e.type === "fault" && e.fault === "bad-checksum");
    await lane.send(lane.c6(a.b4.frame, 700, PT), a.b4);
    await until(damaged);
    expect(calls).toEqual([]);
    await sim.stop();
    expect(calls).toEqual(["append A torn-after-debit", "close"]);
    expect(sim.ledger().map((e) => [e.vehicleId, e.outcome, e.seq])).toEqual([["A", "torn-after-debit", 1]]);
  });

  it("over TCP, the lane's connection closed before the B5 00: every copy is written to no lane, torn-after-debit", async () => {
    // What the TCP listener hands the RSU (sim/cli/endpoint.ts): a switch to whichever connection is there,
    // here one end of an in-process pair standing for the lane's socket.
    const pair = createTransportPair();
    const sw = new SwitchTransport("tcp-server:test");
    const frameLog = memoryFrameLog();
    const sim = createRsuSimulator({
      transport: sw,
      protocol,
      seed: 3,
      frameLog,
      timing: { heartbeatMs: 60_000 },
      scenario: {
        startTime: "2025-01-02T10:00:00+08:00",
        traffic: { vehicles: [{ id: "A", balance: 5000, zoneMs: 60_000 }] },
      } as ScenarioInput,
    });
    const lane = new LaneDriver(pair.lane, protocol);
    await lane.open();
    await sim.start();
    running.push({ sim, lane });
    await pair.device.open();
    expect(sw.attach(pair.device)).toBe(true);
    const ended = next(sim.events$, (e) => e.type === "ended");
    await until(lane.init());
    const a = await walkFromB2(lane);
    // the RSU has taken the C6 and is on the air for the purchase when the connection closes
    const onAir = next(sim.events$, (e) => e.type === "mode" && e.mode === "dsrc");
    await lane.send(lane.c6(a.b4.frame, 700, PT), a.b4);
    await until(onAir);
    await pair.device.close();
    expect(sw.connected).toBeUndefined();
    expect(await until(ended)).toMatchObject({ outcome: "traded", detail: "no answer to B5" });
    expect(sim.cards()[0]).toMatchObject({ balance: 5000 - 700 });
    expect(sim.ledger().map((e) => [e.vehicleId, e.amount, e.outcome])).toEqual([
      ["A", 700, "torn-after-debit"],
    ]);
    const lost = frameLog.records.filter((r) => r.note?.startsWith("lost:"));
    // every copy of the B5 (one seq: a retransmission) named as not written
    const b5 = frameLog.records.find((r) => r.dir === "tx" && r.frame?.type === "B5");
    const seq = (b5?.frame as { seq: number } | undefined)?.seq;
    expect(seq).toEqual(expect.any(Number));
    expect(lost.map((r) => r.note)).toEqual(
      Array(4).fill(
        `lost: tcp-server:test: no lane connected (the B5 seq ${seq} logged above was not written)`,
      ),
    );
  });
});
