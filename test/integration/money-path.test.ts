/**
 * The money path under field faults, against the simulated RSU with real card models, over the in-process
 * pair and over a pseudo-terminal (the lane's serial transport on /dev/pts/N): a graceful stop with a debit
 * in flight, an RSU link blip during a debit followed by the RSU's repeated B5 (in time, and after the
 * debit became a suspect), a port that drops between a B4 and its C6 (the C6 never written: a stop, not a
 * suspect), and a restart with an unsettled suspect and the same card presented again.
 * Every debit the card made is one record; none is made twice.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import type { RsuLinkOptionsInput } from "../../firmware-bridge/link/options.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig, LaneConfigInput } from "../../src/config/schema.js";
import { JournalReader } from "../../src/journal/journal.js";
import type { StoredRecord } from "../../src/journal/types.js";
import type { VehicleOutcome } from "../../src/lane/controller.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { laneRuntimeOperator } from "../../src/service/runtime-operator.js";
import {
  expectJournalMatchesLedger,
  loadStatusList,
  ROOT,
  type ScenarioVehicle,
  vehicle as v,
} from "./harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function laneConfig(
  protocol: "legacy" | "national",
  dataDir: string,
  tx: LaneConfigInput["transaction"],
): LaneConfig {
  return parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol, timing: { initTimeoutMs: 1000, initRetryMs: 200 } },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600, ...tx },
      outputs: { sink: "log" },
    },
    "test",
  );
}

type Medium = "pair" | "pty";

/**
 * The line between lane and RSU. "pair": in process; with `cable` the lane sees an unplug as its port
 * disconnecting, without it an unplug is a silent line (the RSU's end closed). "pty": a pseudo-terminal
 * whose slave the lane opens as a serial port; an unplug is a silent line.
 */
async function line(
  medium: Medium,
  cable: boolean,
): Promise<{ lane: Transport; device: Transport; cable?: { unplug(): void; replug(): void } }> {
  if (medium === "pair") {
    const pair = createTransportPair();
    return { lane: pair.lane, device: pair.device, ...(cable ? { cable: pair } : {}) };
  }
  const pty = await openPty();
  cleanups.push(() => pty.close());
  return { lane: createSerialTransport({ path: pty.lanePath }), device: pty.device };
}

/** A lane and a simulated RSU on one line; the lane is open when this resolves. */
async function start(
  protocol: "legacy" | "national",
  medium: Medium,
  dataDir: string,
  vehicles: ScenarioVehicle[],
  o: {
    transaction?: LaneConfigInput["transaction"];
    sim?: Parameters<typeof createRsuSimulator>[0]["timing"];
    link?: RsuLinkOptionsInput;
    before?: (lane: LaneRuntime) => void;
    /** the lane sees the unplug fault as its port disconnecting (in-process pair only) */
    cable?: boolean;
  } = {},
): Promise<{ lane: LaneRuntime; sim: RsuSimulator }> {
  const l = await line(medium, o.cable ?? false);
  const lane = await openLane(laneConfig(protocol, dataDir, o.transaction), {
    transport: l.lane,
    outputs: { emit: () => {} },
    uplink: false,
    ...(o.link ? { link: o.link } : {}),
  });
  cleanups.push(() => lane.close());
  if (lane.statusList.info().versions.full === null) await loadStatusList(lane, []); // a restart has one
  o.before?.(lane);
  const sim = createRsuSimulator({
    transport: l.device,
    protocol,
    seed: 7,
    ...(l.cable ? { cable: l.cable } : {}),
    ...(o.sim ? { timing: o.sim } : {}),
    scenario: { defaults: { zoneMs: 2500 }, traffic: { vehicles } },
  });
  cleanups.push(() => sim.stop());
  await sim.start();
  await lane.controller.start();
  await firstValueFrom(
    lane.controller.status$.pipe(
      filter((s) => s.status === "open"),
      timeout(15_000),
    ),
  );
  return { lane, sim };
}

function recordsIn(dataDir: string): StoredRecord[] {
  const r = JournalReader.openReadOnly(dataDir);
  try {
    return r.list({});
  } finally {
    r.close();
  }
}

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "lane-money-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  return join(dir, "data");
}

const CARD = { network: "4301", serial: "0000000000005555" };

const CASES = [
  ["legacy", "pair"],
  ["national", "pair"],
  ["legacy", "pty"],
  ["national", "pty"],
] as const;

describe.each(CASES)("money path (%s, %s)", (protocol, medium) => {
  it("SIGTERM with a debit in flight: the lane drains, the B5 is recorded as paid, no suspect", async () => {
    const dataDir = tmp();
    let stopping: Promise<void> | undefined;
    const { lane, sim } = await start(protocol, medium, dataDir, [v("湘G00001")], {
      // the B5 comes 300 ms after the C6: the stop request lands between them
      sim: { dsrcMs: { b5: 300 } },
      before: (l) => {
        const writeIntent = l.journal.writeIntent.bind(l.journal);
        l.journal.writeIntent = (...args: Parameters<typeof writeIntent>) => {
          const id = writeIntent(...args);
          // the C6 goes out in this same step; the stop is queued behind it
          stopping ??= l.close();
          return id;
        };
      },
    });
    await sim.done;
    await stopping;
    expect(lane.controller.status).toMatchObject({ status: "closed", reason: "stopped" });
    const recs = recordsIn(dataDir);
    expect(recs.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
    expect(sim.ledger()).toHaveLength(1);
    expectJournalMatchesLedger(recs, sim.ledger());
  });

  it("the line goes silent before the B5 and returns: the RSU's repeated B5 is recorded, one paid record", async () => {
    const dataDir = tmp();
    const { lane, sim } = await start(
      protocol,
      medium,
      dataDir,
      [v("湘G00005", { faults: [{ kind: "unplug", before: "B5", durationMs: 150 }] })],
      {
        transaction: { b5TimeoutMs: 5000 },
        // the RSU repeats its unanswered B5 500 ms apart: the line is back before the first repeat
        sim: { retransmitMs: 500 },
      },
    );
    await sim.done;
    await lane.controller.idle();
    const recs = lane.journal.list({});
    expect(recs.map((x) => `${x.kind}:${x.outcome}:${x.revision}`)).toEqual(["transaction:EXIT_DEBIT:1"]);
    expect(sim.ledger()).toHaveLength(1);
    expectJournalMatchesLedger(recs, sim.ledger());
  });

  it("the B5 comes back after its debit became a suspect: it settles that record (same seq and trade id, revision 2)", async () => {
    const dataDir = tmp();
    const { lane, sim } = await start(
      protocol,
      medium,
      dataDir,
      // the line is silent 600 ms from just before the B5 ...
      [v("湘G00006", { faults: [{ kind: "unplug", before: "B5", durationMs: 600 }] })],
      {
        // ... the lane gives the B5 300 ms (a suspect at once, B5_MISSING) ...
        transaction: { b5TimeoutMs: 300 },
        // ... and the RSU repeats it 400 ms apart: the repeat after the line is back reaches the lane
        sim: { retransmitMs: 400 },
      },
    );
    const outcomes: VehicleOutcome[] = [];
    lane.controller.outcomes$.subscribe((o) => outcomes.push(o));
    await sim.done;
    await lane.controller.idle();
    // what the lane reported: the suspect, then the same record settled
    expect(outcomes.map((o) => [o.record.kind, o.record.outcome, o.record.revision])).toEqual([
      ["suspect", "B5_MISSING", 1],
      ["transaction", "EXIT_DEBIT_SETTLED", 2],
    ]);
    const [suspect, settled] = outcomes.map((o) => o.record);
    expect([settled!.seq, settled!.tradeId]).toEqual([suspect!.seq, suspect!.tradeId]);
    // what the journal holds: one record for the one debit, with the amount and the TAC
    const recs = lane.journal.list({});
    expect(recs.map((x) => [x.seq, x.kind, x.outcome, x.revision])).toEqual([
      [suspect!.seq, "transaction", "EXIT_DEBIT_SETTLED", 2],
    ]);
    expect(recs[0]!.extra).toMatchObject({
      settlement: { settledBy: "b5", previous: { kind: "suspect", outcome: "B5_MISSING" } },
    });
    expect(sim.ledger()).toHaveLength(1);
    expectJournalMatchesLedger(recs, sim.ledger());
    expect(lane.controller.counters.settled).toBe(1);
    expect(lane.controller.guards.isHeld(recs[0]!.cardId!)).toBe(false);
    // the settled debit is in the outbox again, at its new revision
    expect(lane.journal.pending(10).map((p) => [p.seq, p.revision])).toEqual([[suspect!.seq, 2]]);
  });

  it("a restart with an unsettled suspect: the same card presented again is not debited", async () => {
    const dataDir = tmp();
    const a = await start(protocol, medium, dataDir, [
      v("湘G00003", { card: CARD, faults: [{ kind: "b5-lost", b5: "none", lingerMs: 800 }] }),
    ]);
    await a.sim.done;
    await a.lane.controller.idle();
    while (a.lane.controller.inFlight().length > 0) {
      await firstValueFrom(a.lane.controller.outcomes$.pipe(timeout(15_000)));
      await a.lane.controller.idle();
    }
    expect(a.lane.journal.list({}).map((x) => `${x.kind}:${x.outcome}`)).toEqual(["suspect:B5_MISSING"]);
    expect(a.sim.ledger()).toHaveLength(1);
    await a.lane.close();
    await a.sim.stop();
    // the restarted lane, the same card in another vehicle
    const b = await start(protocol, medium, dataDir, [v("湘G00004", { card: CARD })]);
    await b.sim.done;
    await b.lane.controller.idle();
    const recs = b.lane.journal.list({});
    expect(recs.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["suspect:B5_MISSING", "stop:UNSETTLED_DEBIT"]);
    expect(b.sim.ledger()).toEqual([]);
    expect(b.lane.controller.guards.isHeld(`${CARD.network}${CARD.serial}`)).toBe(true);
  });
});

describe("money path: a suspect settled by hand (legacy, in-process pair)", () => {
  it("etc-lane journal settle --debited with the bank's TAC: the record is the paid debit, the hold ends, the card pays its next trip", async () => {
    const dataDir = tmp();
    const a = await start("legacy", "pair", dataDir, [
      v("湘G00005", { card: CARD, faults: [{ kind: "b5-lost", b5: "none", lingerMs: 800 }] }),
    ]);
    await a.sim.done;
    await a.lane.controller.idle();
    while (a.lane.controller.inFlight().length > 0) {
      await firstValueFrom(a.lane.controller.outcomes$.pipe(timeout(15_000)));
      await a.lane.controller.idle();
    }
    const [s] = a.lane.journal.list({});
    expect(`${s?.kind}:${s?.outcome}`).toBe("suspect:B5_MISSING");
    const cardId = `${CARD.network}${CARD.serial}`;
    expect(a.lane.controller.guards.isHeld(cardId)).toBe(true);
    const debit = a.sim.ledger()[0]!;
    const op = auditedOperator(laneRuntimeOperator(a.lane), a.lane.audit);
    const user = { name: "zhang", uid: 1001, pid: 1, via: "socket" as const };
    const proof = {
      tac: debit.tac,
      iccPaySerial: debit.iccPaySerial.toString(16).padStart(4, "0"),
      psamNo: debit.psamNo,
      psamTransSerial: debit.psamTransSerial.toString(16).padStart(8, "0"),
    };
    // the TAC alone is not what clearing needs: refused, nothing changes, the hold stays
    const refused = await op.settleSuspect(
      { seq: s!.seq, verdict: "debited", reason: "ticket 4711", proof: { tac: debit.tac } },
      user,
    );
    expect(refused.ok).toBe(false);
    // (no frame reported the card's serial or the PSAM's: B5_MISSING)
    expect(refused.message).toContain("give --icc-pay-serial, --psam-no, --psam-trans-serial");
    expect(a.lane.journal.get(s!.seq)?.kind).toBe("suspect");
    expect(a.lane.controller.guards.isHeld(cardId)).toBe(true);
    const done = await op.settleSuspect(
      { seq: s!.seq, verdict: "debited", reason: "ticket 4711: the bank cleared it", proof },
      user,
    );
    expect(done).toMatchObject({
      ok: true,
      data: {
        seq: s!.seq,
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        revision: 2,
        stillHeld: false,
      },
    });
    // one debit, one record: the suspect became the paid transaction with the card's own TAC
    const recs = a.lane.journal.list({});
    expect(recs.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["transaction:EXIT_DEBIT_SETTLED"]);
    expectJournalMatchesLedger(recs, a.sim.ledger());
    expect(recs[0]?.extra?.settlement).toMatchObject({
      settledBy: "operator",
      evidence: { verdict: "debited", reason: "ticket 4711: the bank cleared it", operator: "zhang" },
    });
    expect(a.lane.journal.pending(10).map((p) => [p.seq, p.revision])).toEqual([[s!.seq, 2]]);
    // the hold ended at once, in memory and in the journal
    expect(a.lane.controller.guards.isHeld(cardId)).toBe(false);
    expect(a.lane.journal.openSuspectOf({ cardId })).toBeNull();
    // a second settlement of the same record is refused: it is no longer a suspect
    const again = await op.settleSuspect({ seq: s!.seq, verdict: "not-debited", reason: "again" }, user);
    expect(again.ok).toBe(false);
    expect(again.message).toContain("is a transaction (EXIT_DEBIT_SETTLED), not an unsettled suspect");
    await a.lane.audit.flush();
    const trail = [...readTrail(auditDir(dataDir))].map((x) => x.entry);
    expect(
      trail
        .filter((e) => e.type === "operator.journal.settle")
        .map((e) => [e.severity, e.data?.ok, e.data?.user]),
    ).toEqual([
      ["warn", false, "zhang"],
      ["warn", true, "zhang"],
      ["warn", false, "zhang"],
    ]);
    expect(
      trail.some(
        (e) => e.type === "record.settle" && (e.data as { rec: { jseq: number } }).rec.jseq === s!.seq,
      ),
    ).toBe(true);
    await a.lane.close();
    await a.sim.stop();
    // the restarted lane, the same card in another vehicle: paid (before the settlement it was UNSETTLED_DEBIT;
    // no recent-trade window here, or the settled debit of seconds ago would wave it through as the same trip)
    const b = await start("legacy", "pair", dataDir, [v("湘G00006", { card: CARD })], {
      transaction: { recentTradeWindowMs: 0 },
    });
    await b.sim.done;
    await b.lane.controller.idle();
    expect(b.lane.journal.list({}).map((x) => `${x.kind}:${x.outcome}`)).toEqual([
      "transaction:EXIT_DEBIT_SETTLED",
      "transaction:EXIT_DEBIT",
    ]);
    expect(b.sim.ledger()).toHaveLength(1);
  });
});

describe.each(["legacy", "national"] as const)(
  "money path, the lane's port disconnects (in-process pair, %s)",
  (protocol) => {
    it("an RSU link blip during the debit: the repeated B5 settles it, one paid record, then C0", async () => {
      const dataDir = tmp();
      const { lane, sim } = await start(
        protocol,
        "pair",
        dataDir,
        [v("湘G00002", { faults: [{ kind: "unplug", before: "B5", durationMs: 150 }] })],
        {
          transaction: { b5TimeoutMs: 5000 },
          // the RSU repeats its unanswered B5 500 ms apart: the link is back before the first repeat
          sim: { retransmitMs: 500 },
          link: { reconnect: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } },
          cable: true,
        },
      );
      const inits = lane.controller.counters.inits;
      await sim.done;
      await firstValueFrom(
        lane.controller.status$.pipe(
          filter((s) => s.status === "open"),
          timeout(15_000),
        ),
      );
      await lane.controller.idle();
      const recs = lane.journal.list({});
      expect(recs.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["transaction:EXIT_DEBIT"]);
      expect(recs[0]?.tac).toBe(sim.ledger()[0]?.tac);
      expectJournalMatchesLedger(recs, sim.ledger());
      expect(lane.controller.counters.inits).toBe(inits + 1); // C0 again once the debit was answered
    });

    it("the port drops after a B4 arrived, before its C6: the link refuses the C6 unwritten, a DEBIT_NOT_SENT stop, no suspect, no hold", async () => {
      const dataDir = tmp();
      const { lane, sim } = await start(protocol, "pair", dataDir, [v("湘G00001", { at: 500, card: CARD })], {
        link: { reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0 } },
        cable: true,
      });
      const port = lane.link.transport as Transport & { written: Buffer[]; setPlugged(p: boolean): void };
      const typeAt = protocol === "legacy" ? 3 : 8; // the frame type byte (legacy FF FF RSCTL, national + VER SEQ LEN)
      let dropped = false;
      // subscribed after the link's frame channel: this runs once the B4 is on incoming$, queued in the lane
      // and not yet answered
      port.data$.subscribe((chunk) => {
        if (!dropped && chunk[typeAt] === 0xb4) {
          dropped = true;
          port.setPlugged(false); // the link is lost: the reply to that B4 is refused, nothing written
          port.setPlugged(true); // the port may open again; the link reconnects after its backoff
        }
      });
      const first = await firstValueFrom(lane.controller.outcomes$.pipe(timeout(15_000)));
      const writtenBefore = port.written.slice().map((b) => b[typeAt]);
      expect(`${first.record.kind}:${first.record.outcome}`).toBe("stop:DEBIT_NOT_SENT");
      expect(first.record).toMatchObject({ amount: 0, cardId: `${CARD.network}${CARD.serial}` });
      expect(first.record.extra).toMatchObject({ linkError: "E302_LINK_DOWN", command: "C6" });
      expect(writtenBefore).not.toContain(0xc6);
      expect(lane.journal.openIntents()).toEqual([]);
      expect(lane.controller.guards.isHeld(`${CARD.network}${CARD.serial}`)).toBe(false);
      // whatever the vehicle does next (the RSU repeats its B4, searches again), nothing is a suspect and
      // every debit the card made is one record
      await sim.done;
      await lane.controller.idle();
      while (lane.controller.inFlight().length > 0) {
        await firstValueFrom(lane.controller.outcomes$.pipe(timeout(5000)));
        await lane.controller.idle();
      }
      const recs = lane.journal.list({});
      expect(recs.filter((x) => x.kind === "suspect")).toEqual([]);
      expectJournalMatchesLedger(recs, sim.ledger());
    });
  },
);
