import { describe, expect, it } from "vitest";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { ENTRY_AHEAD_TOLERANCE_MS } from "../../src/lane/card-rules.js";
import { transition } from "../../src/lane/obu-machine.js";
import type { Effect, MachineCtx, ObuEvent, ObuState } from "../../src/lane/obu-machine-types.js";
import { STOP_REASON_CODES, STOP_REASONS } from "../../src/lane/stop-reasons.js";
import { localIsoSeconds } from "../../src/local-time.js";
import { b2, b3, b4, b5, b8, CARD_ID, ctxFor, NOW, OBU_ID, OBU_SERIAL } from "./machine-fixtures.js";

function run(
  ctx: MachineCtx,
  events: ObuEvent[],
): { state: ObuState; effects: Effect[]; steps: Effect[][]; timeoutMs?: number } {
  let state: ObuState = { phase: "idle" };
  const steps: Effect[][] = [];
  let timeoutMs: number | undefined;
  for (const ev of events) {
    const t = transition(state, ev, ctx);
    state = t.state;
    steps.push(t.effects);
    timeoutMs = t.timeoutMs;
  }
  return { state, effects: steps.flat(), steps, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

const commits = (effects: Effect[]): NewLaneRecord[] =>
  effects.flatMap((e) => (e.kind === "commit" ? [e.record] : []));
const replies = (effects: Effect[]) =>
  effects.flatMap((e) => (e.kind === "reply" || e.kind === "send" ? [e.command] : []));

const E = {
  obu: (o = b2()): ObuEvent => ({ kind: "obu", info: o }),
  veh: (v = b3()): ObuEvent => ({ kind: "vehicle", info: v }),
  card: (c = b4()): ObuEvent => ({ kind: "card", info: c, raw: "b4raw" }),
  trade: (t = b5()): ObuEvent => ({ kind: "trade", info: t, raw: "b5raw" }),
  tac: (t = b8()): ObuEvent => ({ kind: "tac", info: t, raw: "b8raw" }),
  timeout: { kind: "timeout" } as ObuEvent,
  superseded: { kind: "superseded" } as ObuEvent,
};

function boom(): never {
  throw new Error("SQLITE_IOERR: disk I/O error");
}

function expectStop(
  r: ReturnType<typeof run>,
  reason: string,
  opts: { reply?: boolean; stopType?: number; display?: false } = {},
): NewLaneRecord {
  expect(r.state).toEqual({ phase: "done", kind: "stop", outcome: reason });
  const recs = commits(r.effects);
  expect(recs).toHaveLength(1);
  const rec = recs[0]!;
  expect(rec.kind).toBe("stop");
  expect(rec.outcome).toBe(reason);
  expect(rec.amount).toBe(0);
  expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
  const last = r.steps[r.steps.length - 1]!;
  const stopReply = last.find((e) => e.kind === "reply");
  expect(stopReply).toEqual(
    opts.reply === false
      ? undefined
      : expect.objectContaining({
          command: expect.objectContaining({ kind: "stop", obuId: OBU_ID, stopType: opts.stopType ?? 1 }),
        }),
  );
  // a stop replies before it commits (the RSU is not kept waiting on the disk)
  expect(stopReply ? last.indexOf(stopReply) : -1).toBeLessThan(last.findIndex((e) => e.kind === "commit"));
  const display = last.find((e) => e.kind === "display");
  expect(display).toEqual(
    opts.display === false
      ? undefined
      : expect.objectContaining({
          display: expect.objectContaining({
            text: STOP_REASONS[reason as keyof typeof STOP_REASONS].message,
            tone: "stop",
          }),
        }),
  );
  return rec;
}

describe("OBU machine: the happy paths", () => {
  it("exit: B2 -> C1, B3 -> C1, B4 -> C6 with the discounted fee, B5 -> commit, C1, barrier", () => {
    const ctx = ctxFor("exit");
    const r = run(ctx, [E.obu(), E.veh(), E.card(), E.trade()]);
    expect(r.state).toEqual({ phase: "done", kind: "transaction", outcome: "EXIT_DEBIT" });
    const cmds = replies(r.effects);
    expect(cmds.map((c) => c.kind)).toEqual(["continue", "continue", "debit", "continue"]);
    expect(cmds[0]).toEqual({ kind: "continue", obuId: OBU_ID, divFactor: "bafec4cfbafec4cf" });
    const debit = cmds[2]!;
    expect(debit).toMatchObject({
      kind: "debit",
      via: "c6",
      amount: 1425,
      purchaseTimeMs: NOW,
      write: {
        network: "4301",
        station: "0102",
        lane: 3,
        status: 4,
        vehicleClass: 1,
        plate: "湘A12345",
        timeMs: NOW,
      },
    });
    const last = r.steps[3]!;
    // reply first (the RSU never waits on the fsync), then the durable commit, then the barrier
    expect(last.map((e) => e.kind)).toEqual(["reply", "commit", "barrier-open", "display", "remember"]);
    const rec = commits(last)[0]!;
    expect(rec).toMatchObject({
      kind: "transaction",
      outcome: "EXIT_DEBIT",
      obuId: OBU_ID,
      obuSerial: OBU_SERIAL,
      cardId: CARD_ID,
      cardType: 0x16,
      cardIssuer: "bafec4cfbafec4cf",
      cardNetwork: "4301",
      vehicleClass: 1,
      plate: "湘A12345",
      amountDue: 1500,
      discountPercent: 5,
      amount: 1425,
      balanceBefore: 10_000,
      balanceAfter: 8575,
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      psamNo: "010203040506",
      psamTransSerial: "00000063",
      transTime: "20250716103000",
      transType: "09",
      statusListVersions: { full: "20250716", delta: "202507161025" },
      tariffVersion: "t-1",
      rawB4: "b4raw",
      rawB5: "b5raw",
      entry: { network: "4301", station: "0101", lane: 1, time: "2025-07-16T09:30:00+08:00" },
    });
    expect(last[3]).toMatchObject({
      display: { text: "扣费 14.25元", detail: "余额 85.75元 一路顺风", tone: "ok" },
    });
    expect(last[4]).toEqual({
      kind: "remember",
      traded: { obuSerial: OBU_SERIAL, cardId: CARD_ID },
      released: { obuSerial: OBU_SERIAL, cardId: CARD_ID },
    });
  });

  it("asks for a deadline in each waiting state and none when done", () => {
    const ctx = ctxFor("exit");
    expect(run(ctx, [E.obu()]).timeoutMs).toBe(2000);
    expect(run(ctx, [E.obu(), E.veh()]).timeoutMs).toBe(2000);
    expect(run(ctx, [E.obu(), E.veh(), E.card()]).timeoutMs).toBe(1000);
    expect(run(ctx, [E.obu(), E.veh(), E.card(), E.trade()]).timeoutMs).toBeUndefined();
  });

  it("entry: writes the entry record with amount 0 (C6), or C3 where configured", () => {
    const fresh = E.card(b4({ entry: { status: 0x04 } }));
    const r = run(ctxFor("entry"), [E.obu(), E.veh(), fresh, E.trade(b5({ balanceAfter: 10_000 }))]);
    expect(r.state).toMatchObject({ kind: "transaction", outcome: "ENTRY_WRITE" });
    expect(replies(r.effects)[2]).toMatchObject({
      kind: "debit",
      via: "c6",
      amount: 0,
      write: { status: 3, station: "0102" },
    });
    const rec = commits(r.effects)[0]!;
    expect(rec).toMatchObject({
      amount: 0,
      tariffVersion: null,
      entry: { network: "4301", station: "0102", lane: 3, time: "2025-07-16T10:30:00+08:00" },
    });
    const c3 = run(ctxFor("entry", {}, { entryWrite: "c3" }), [
      E.obu(),
      E.veh(),
      E.card(b4({ entry: { status: 0 } })),
    ]);
    expect(replies(c3.effects)[2]).toMatchObject({ kind: "debit", via: "c3", amount: 0 });
  });

  it("a credit card is charged even when its notional balance is below the fee", () => {
    const r = run(ctxFor("exit"), [E.obu(), E.veh(), E.card(b4({ balance: 10, card: { cardType: 0x17 } }))]);
    expect(r.state.phase).toBe("await-b5");
  });

  it("low battery warns by default and stops when configured", () => {
    const low = E.obu(b2({ bits: { batteryLow: true } }));
    const r = run(ctxFor("exit"), [low, E.veh(), E.card(), E.trade()]);
    expect(r.state).toMatchObject({ kind: "transaction" });
    expect(commits(r.effects)[0]!.extra).toMatchObject({ warnings: ["OBU_BATTERY_LOW"] });
    const ctx = ctxFor("exit");
    expectStop(run({ ...ctx, options: { ...ctx.options, lowBattery: "stop" } }, [low]), "OBU_BATTERY_LOW");
  });
});

// review: a national B2's DeviceType was decoded and never judged: a CPC (03) went on through C1, its Status
// bit 7 (battery low on a CPC) read as no card, or its B4 undecodable and the vehicle timed out as OBU_LEFT
describe("OBU machine: the national B2 DeviceType", () => {
  const exit = ctxFor("exit");
  const continues = (r: ReturnType<typeof run>) =>
    r.effects.filter((e) => e.kind === "reply" && e.command.kind === "continue");

  it("01 (dual-chip OBU), 02 (single-chip OBU) and none (a legacy B2) trade on: C1, await-b3", () => {
    for (const deviceType of [null, 0x01, 0x02]) {
      const r = run(exit, [E.obu(b2({ deviceType }))]);
      expect(r.state.phase).toBe("await-b3");
      expect(continues(r)).toHaveLength(1);
    }
  });

  it("03 (CPC) and any other are stopped at B2 as OBU_TYPE_INVALID with the DeviceType, no C1, before the Status bits", () => {
    for (const deviceType of [0x03, 0x00, 0x04, 0xff]) {
      const r = run(exit, [E.obu(b2({ deviceType }))]);
      expect(expectStop(r, "OBU_TYPE_INVALID").extra).toMatchObject({ deviceType });
      expect(continues(r)).toEqual([]);
    }
    // a CPC's Status bit 7 says its battery is low, not that a card is missing: not OBU_NO_CARD
    expectStop(
      run(exit, [E.obu(b2({ deviceType: 0x03, bits: { cardPresent: false } }))]),
      "OBU_TYPE_INVALID",
    );
  });
});

describe("OBU machine: every stop case", () => {
  const exit = ctxFor("exit");
  const cases: [string, MachineCtx, ObuEvent[], { reply?: boolean; stopType?: number; display?: false }?][] =
    [
      ["OBU_READ_FAILED", exit, [E.obu(b2({ errorCode: 0x01 }))]],
      ["OBU_DATA_INVALID", exit, [E.obu(b2({ contractSerial: null }))]],
      ["OBU_DATA_INVALID", exit, [E.obu(b2({ dateOfExpire: "20331399" }))]],
      ["OBU_TYPE_INVALID", exit, [E.obu(b2({ deviceType: 0x03 }))]],
      ["OBU_NO_CARD", exit, [E.obu(b2({ bits: { cardPresent: false } }))]],
      ["OBU_CARD_ERROR", exit, [E.obu(b2({ bits: { cardError: true } }))]],
      ["OBU_LOCKED", exit, [E.obu(b2({ bits: { locked: true } }))]],
      ["OBU_TAMPERED", exit, [E.obu(b2({ bits: { tampered: true } }))]],
      ["OBU_EXPIRED", exit, [E.obu(b2({ dateOfExpire: "20250715" }))]],
      ["OBU_NOT_YET_VALID", exit, [E.obu(b2({ dateOfIssue: "20250717" }))]],
      ["OBU_ISSUER_INVALID", exit, [E.obu(b2({ issuerId: "0000000000000000" }))]],
      ["OBU_ON_STATUS_LIST", ctxFor("exit", { listedObu: new Set([OBU_SERIAL]) }), [E.obu()]],
      ["UNSETTLED_DEBIT", ctxFor("exit", { unsettled: new Set([OBU_SERIAL]) }), [E.obu()]],
      ["VEHICLE_READ_FAILED", exit, [E.obu(), E.veh(b3({ errorCode: 0x01 }))]],
      ["VEHICLE_CLASS_INVALID", exit, [E.obu(), E.veh(b3({ vehicleClass: 7 }))]],
      [
        "FRAME_INCOMPLETE",
        exit,
        [E.obu(), E.veh(b3({ vehicleClass: null })), E.veh(b3({ vehicleClass: null }))],
      ],
      ["CARD_READ_FAILED", exit, [E.obu(), E.veh(), E.card(b4({ errorCode: 0x01 }))]],
      [
        "CARD_DATA_INVALID",
        exit,
        [E.obu(), E.veh(), E.card(b4({ card: { cardSerial: "00000000000012ab" } }))],
      ],
      ["CARD_DATA_INVALID", exit, [E.obu(), E.veh(), E.card(b4({ card: { expireDate: "00000000" } }))]],
      ["CARD_TYPE_INVALID", exit, [E.obu(), E.veh(), E.card(b4({ card: { cardType: 0x15 } }))]],
      ["CARD_EXPIRED", exit, [E.obu(), E.veh(), E.card(b4({ card: { expireDate: "20250715" } }))]],
      ["CARD_NOT_YET_VALID", exit, [E.obu(), E.veh(), E.card(b4({ card: { startDate: "20250717" } }))]],
      ["CARD_OBU_MISMATCH", exit, [E.obu(), E.veh(), E.card(b4({ card: { issuerId: "b1b1bea9b1b1bea9" } }))]],
      ["CARD_OBU_MISMATCH", exit, [E.obu(), E.veh(), E.card(b4({ card: { plate: "京B99999" } }))]],
      [
        "CARD_ON_STATUS_LIST",
        ctxFor("exit", { listedCard: new Set([CARD_ID]) }),
        [E.obu(), E.veh(), E.card()],
      ],
      ["UNSETTLED_DEBIT", ctxFor("exit", { unsettled: new Set([CARD_ID]) }), [E.obu(), E.veh(), E.card()]],
      ["NO_ENTRY_INFO", exit, [E.obu(), E.veh(), E.card(b4({ entry: { status: 0 } }))]],
      ["NO_ENTRY_INFO", exit, [E.obu(), E.veh(), E.card(b4({ entry: { status: 0x04 } }))]],
      ["NO_ENTRY_INFO", exit, [E.obu(), E.veh(), E.card(b4({ entry: { status: 0x01 } }))]],
      ["ENTRY_ALREADY_OPEN", ctxFor("entry"), [E.obu(), E.veh(), E.card(b4({ entry: { status: 0x03 } }))]],
      [
        "TIMEOUT_VEHICLE",
        ctxFor("exit", {}, { options: { ...exit.options, maxTripHours: 48 } }),
        [E.obu(), E.veh(), E.card(b4({ entry: { timeMs: NOW - 49 * 3_600_000 } }))],
      ],
      [
        "ENTRY_TIME_INVALID",
        ctxFor("exit", {}, { options: { ...exit.options, maxTripHours: 48 } }),
        [E.obu(), E.veh(), E.card(b4({ entry: { timeMs: NOW + 365 * 86_400_000 } }))],
      ],
      ["ENTRY_TIME_INVALID", exit, [E.obu(), E.veh(), E.card(b4({ entry: { timeMs: NOW + 3_600_000 } }))]],
      ["CLASS_MISMATCH", exit, [E.obu(), E.veh(), E.card(b4({ entry: { vehicleClass: 12 } }))]],
      ["UNKNOWN_ROUTE", exit, [E.obu(), E.veh(), E.card(b4({ entry: { station: "0999" } }))]],
      [
        "UNKNOWN_CLASS",
        exit,
        [E.obu(), E.veh(b3({ vehicleClass: 2 })), E.card(b4({ entry: { vehicleClass: 2 } }))],
      ],
      ["INSUFFICIENT_BALANCE", exit, [E.obu(), E.veh(), E.card(b4({ balance: 1424 }))]],
      [
        "TRADE_FAILED",
        exit,
        [E.obu(), E.veh(), E.card(), E.trade(b5({ errorCode: 0x06, result: "failed" }))],
      ],
      ["OBU_LEFT", exit, [E.obu(), E.timeout], { reply: false }],
      ["OBU_LEFT", exit, [E.obu(), E.veh(), E.timeout], { reply: false }],
      // superseded: the vehicle is still in the zone, its new transaction (answered first) owns the display
      ["OBU_LEFT", exit, [E.obu(), E.superseded], { reply: false, display: false }],
      ["OBU_LEFT", exit, [E.obu(), E.veh(), E.superseded], { reply: false, display: false }],
      ["LANE_CLOSED", exit, [E.obu(), E.veh(), { kind: "lane-closed" }], { reply: false }],
      [
        "DEBIT_NOT_SENT",
        exit,
        [E.obu(), E.veh(), E.card(), { kind: "not-sent", code: "E302_LINK_DOWN" }],
        { reply: false },
      ],
      ["STATUS_LIST_FAILED", ctxFor("exit", {}, { lookup: () => boom() }), [E.obu()]],
    ];
  for (const [reason, ctx, events, opts] of cases) {
    it(`${reason} after ${events.map((e) => e.kind).join(",")}`, () => {
      const rec = expectStop(run(ctx, events), reason, opts);
      expect(rec.obuId).toBe(OBU_ID);
    });
  }

  it("covers every per-vehicle stop reason in the catalogue", () => {
    const tested = new Set(cases.map((c) => c[0]));
    const perVehicle = STOP_REASON_CODES.filter(
      (c) => !["ALREADY_TRADED", "JOURNAL_FAILED", "OBU_BATTERY_LOW"].includes(c),
    );
    expect(perVehicle.filter((c) => !tested.has(c))).toEqual([]);
  });

  it("an entry time more than ENTRY_AHEAD_TOLERANCE_MS ahead of the lane's clock is ENTRY_TIME_INVALID (how far ahead in the record), with or without maxTripHours; within it the trip is priced", () => {
    const trip48 = ctxFor("exit", {}, { options: { ...exit.options, maxTripHours: 48 } });
    for (const ctx of [exit, trip48]) {
      const ahead = run(ctx, [
        E.obu(),
        E.veh(),
        E.card(b4({ entry: { timeMs: NOW + ENTRY_AHEAD_TOLERANCE_MS + 1000 } })),
      ]);
      expect(ahead.state).toMatchObject({ phase: "done", kind: "stop", outcome: "ENTRY_TIME_INVALID" });
      expect(commits(ahead.effects)[0]!.extra).toMatchObject({
        entryAheadMs: ENTRY_AHEAD_TOLERANCE_MS + 1000,
      });
      expect(replies(ahead.effects).map((c) => c.kind)).toEqual(["continue", "continue", "stop"]);
      const near = run(ctx, [
        E.obu(),
        E.veh(),
        E.card(b4({ entry: { timeMs: NOW + ENTRY_AHEAD_TOLERANCE_MS } })),
      ]);
      expect(near.state.phase).toBe("await-b5");
    }
  });

  it("the 0019 entry class against the OBU's (B3): another class is CLASS_MISMATCH before any debit, barrier shut, both classes in the record; a class of 0 states none", () => {
    // a card bound to no plate, moved from a class-12 truck's OBU at entry to a class-1 car's OBU
    const moved = run(exit, [
      E.obu(),
      E.veh(),
      E.card(b4({ card: { plate: "" }, entry: { vehicleClass: 12 } })),
    ]);
    expect(moved.state).toEqual({ phase: "done", kind: "stop", outcome: "CLASS_MISMATCH" });
    expect(replies(moved.effects).map((c) => c.kind)).toEqual(["continue", "continue", "stop"]);
    expect(moved.effects.some((e) => e.kind === "barrier-open")).toBe(false);
    expect(commits(moved.effects)[0]).toMatchObject({
      outcome: "CLASS_MISMATCH",
      vehicleClass: 1,
      entryClass: 12,
      amount: 0,
      extra: { entryClass: 12, vehicleClass: 1, toManual: true },
    });
    expect(STOP_REASONS.CLASS_MISMATCH).toMatchObject({ message: "车型不符", toManual: true });
    const none = run(exit, [E.obu(), E.veh(), E.card(b4({ entry: { vehicleClass: 0 } })), E.trade()]);
    expect(commits(none.effects)[0]).toMatchObject({
      outcome: "EXIT_DEBIT",
      vehicleClass: 1,
      entryClass: null,
    });
  });

  it("every exit record keeps the 0019 entry class (entryClass): paid, stopped after B4, suspect", () => {
    const paid = run(exit, [E.obu(), E.veh(), E.card(), E.trade()]);
    expect(commits(paid.effects)[0]).toMatchObject({ outcome: "EXIT_DEBIT", entryClass: 1 });
    const short = run(exit, [E.obu(), E.veh(), E.card(b4({ balance: 1 }))]);
    expect(commits(short.effects)[0]).toMatchObject({ outcome: "INSUFFICIENT_BALANCE", entryClass: 1 });
    const lost = run(exit, [E.obu(), E.veh(), E.card(), E.timeout]);
    expect(commits(lost.effects)[0]).toMatchObject({ kind: "suspect", entryClass: 1 });
    const early = run(exit, [E.obu(b2({ bits: { cardPresent: false } }))]);
    expect(commits(early.effects)[0]).toMatchObject({ outcome: "OBU_NO_CARD", entryClass: null });
  });

  it("an exit's entryClass is the class of the entry the 0019 holds: an MTC or ETC entry's, none when the 0019 is an exit's record (NO_ENTRY_INFO)", () => {
    // the card's last trip ended at an exit (04, or an MTC exit 02) as a class-12 truck: no entry, no entry class
    for (const status of [0x04, 0x02]) {
      const exited = run(exit, [E.obu(), E.veh(), E.card(b4({ entry: { status, vehicleClass: 12 } }))]);
      expect(commits(exited.effects)[0]).toMatchObject({ outcome: "NO_ENTRY_INFO", entryClass: null });
    }
    // an MTC entry (01) is an entry not yet exited: this lane stops it, the record names the class it entered as
    const mtc = run(exit, [E.obu(), E.veh(), E.card(b4({ entry: { status: 0x01, vehicleClass: 12 } }))]);
    expect(commits(mtc.effects)[0]).toMatchObject({ outcome: "NO_ENTRY_INFO", entryClass: 12 });
  });

  it("an entry lane's entryClass is the class its 0019 write carries (the OBU's), not the card's previous record's; a stop before the write, a write never sent and one the card did not take wrote none", () => {
    const entry = ctxFor("entry");
    // the card's 0019: its last trip's exit, as a class-12 truck
    const lastExit = E.card(b4({ entry: { status: 0x04, vehicleClass: 12 } }));
    const paid = run(entry, [E.obu(), E.veh(), lastExit, E.trade(b5({ balanceAfter: 10_000 }))]);
    expect(replies(paid.effects)[2]).toMatchObject({ kind: "debit", write: { status: 3, vehicleClass: 1 } });
    expect(commits(paid.effects)[0]).toMatchObject({
      outcome: "ENTRY_WRITE",
      vehicleClass: 1,
      entryClass: 1,
    });
    const lost = run(entry, [E.obu(), E.veh(), lastExit, E.timeout]);
    expect(commits(lost.effects)[0]).toMatchObject({ kind: "suspect", entryClass: 1 });
    const listed = run(ctxFor("entry", { listedCard: new Set([CARD_ID]) }), [E.obu(), E.veh(), lastExit]);
    expect(commits(listed.effects)[0]).toMatchObject({ outcome: "CARD_ON_STATUS_LIST", entryClass: null });
    // the write refused before a byte left, and a write the B5 says left the card untouched: nothing written
    const notSent = run(entry, [E.obu(), E.veh(), lastExit, { kind: "not-sent", code: "E302_LINK_DOWN" }]);
    expect(commits(notSent.effects)[0]).toMatchObject({ outcome: "DEBIT_NOT_SENT", entryClass: null });
    const failed = run(entry, [
      E.obu(),
      E.veh(),
      lastExit,
      E.trade(b5({ errorCode: 0x06, result: "failed" })),
    ]);
    expect(commits(failed.effects)[0]).toMatchObject({ outcome: "TRADE_FAILED", entryClass: null });
  });

  it("an exit's entry is the entry the 0019 holds: none when the 0019 is an exit's record (the card's previous trip), which stays in rawB4", () => {
    for (const status of [0x04, 0x02]) {
      const exited = run(exit, [E.obu(), E.veh(), E.card(b4({ entry: { status, station: "0201" } }))]);
      const rec = commits(exited.effects)[0];
      expect(rec).toMatchObject({ outcome: "NO_ENTRY_INFO", entry: null });
      expect(rec?.rawB4).toEqual(expect.any(String));
    }
    const mtc = run(exit, [E.obu(), E.veh(), E.card(b4({ entry: { status: 0x01, station: "0201" } }))]);
    expect(commits(mtc.effects)[0]).toMatchObject({
      outcome: "NO_ENTRY_INFO",
      entry: { network: "4301", station: "0201", lane: 1, time: localIsoSeconds(NOW - 3_600_000, 480) },
    });
    const paid = run(exit, [E.obu(), E.veh(), E.card(), E.trade()]);
    expect(commits(paid.effects)[0]).toMatchObject({
      outcome: "EXIT_DEBIT",
      entry: { station: "0101", lane: 1 },
    });
  });

  it("an entry lane's entry is its own write when the write may have happened (paid, suspect), none before it or when nothing was written; the card's previous record stays in the suspect's evidence", () => {
    const entry = ctxFor("entry");
    // the card's 0019: its last trip's exit at station 0201
    const lastExit = E.card(b4({ entry: { status: 0x04, station: "0201" } }));
    const write = { network: "4301", station: "0102", lane: 3, time: localIsoSeconds(NOW, 480) };
    const paid = run(entry, [E.obu(), E.veh(), lastExit, E.trade(b5({ balanceAfter: 10_000 }))]);
    expect(commits(paid.effects)[0]).toMatchObject({ outcome: "ENTRY_WRITE", entry: write });
    const lost = run(entry, [E.obu(), E.veh(), lastExit, E.timeout]);
    expect(commits(lost.effects)[0]).toMatchObject({
      kind: "suspect",
      entry: write,
      extra: { card0019: { network: "4301", station: "0201", lane: 1 } },
    });
    const listed = run(ctxFor("entry", { listedCard: new Set([CARD_ID]) }), [E.obu(), E.veh(), lastExit]);
    expect(commits(listed.effects)[0]).toMatchObject({ outcome: "CARD_ON_STATUS_LIST", entry: null });
    const notSent = run(entry, [E.obu(), E.veh(), lastExit, { kind: "not-sent", code: "E302_LINK_DOWN" }]);
    expect(commits(notSent.effects)[0]).toMatchObject({ outcome: "DEBIT_NOT_SENT", entry: null });
    const failed = run(entry, [
      E.obu(),
      E.veh(),
      lastExit,
      E.trade(b5({ errorCode: 0x06, result: "failed" })),
    ]);
    expect(commits(failed.effects)[0]).toMatchObject({ outcome: "TRADE_FAILED", entry: null });
  });

  it("the card's bound plate against the OBU's: another vehicle's card is stopped naming both; padding and a card bound to no plate are not a mismatch", () => {
    const other = run(exit, [E.obu(), E.veh(), E.card(b4({ card: { plate: "京B99999" } }))]);
    expect(other.state).toMatchObject({ phase: "done", kind: "stop", outcome: "CARD_OBU_MISMATCH" });
    expect(commits(other.effects)[0]!.extra).toMatchObject({ obuPlate: "湘A12345", cardPlate: "京B99999" });
    expect(run(exit, [E.obu(), E.veh(), E.card(b4({ card: { plate: "湘A12345  " } }))]).state.phase).toBe(
      "await-b5",
    );
    expect(run(exit, [E.obu(), E.veh(), E.card(b4({ card: { plate: "" } }))]).state.phase).toBe("await-b5");
    // a card with an uncertain debit is held whatever vehicle carries it (the booth settles that first);
    // a card that paid a moment ago in another vehicle does not pass as already traded
    const other4 = E.card(b4({ card: { plate: "京B99999" } }));
    const held = run(ctxFor("exit", { unsettled: new Set([CARD_ID]) }), [E.obu(), E.veh(), other4]);
    expect(held.state).toMatchObject({ outcome: "UNSETTLED_DEBIT" });
    const traded = run(ctxFor("exit", { traded: new Set([CARD_ID]) }), [E.obu(), E.veh(), other4]);
    expect(traded.state).toMatchObject({ outcome: "CARD_OBU_MISMATCH" });
  });

  it("an OBU held after its B2 (the booth charging its case) is asked again at B4: UNSETTLED_DEBIT, no C6", () => {
    const unsettled = new Set<string>();
    const ctx = ctxFor("exit", { unsettled });
    let t = transition({ phase: "idle" }, E.obu(), ctx);
    t = transition(t.state, E.veh(), ctx);
    expect(t.state.phase).toBe("await-b4");
    unsettled.add(OBU_SERIAL); // the booth's hold on its case's OBU, taken between B2 and B4
    t = transition(t.state, E.card(), ctx);
    expect(t.state).toEqual({ phase: "done", kind: "stop", outcome: "UNSETTLED_DEBIT" });
    expect(replies(t.effects).map((c) => c.kind)).toEqual(["stop"]);
    expect(commits(t.effects)[0]).toMatchObject({ outcome: "UNSETTLED_DEBIT", cardId: CARD_ID });
  });

  it("the B2 tamper byte (ESAM system info byte 27), OBUStatus bit 1 clear: judged as transaction.tamperByte says; OBU_TAMPERED with its alarm, the record naming the byte", () => {
    const policy = (tamperByte: "ignore" | "stop-nonzero" | "stop-zero") => ({
      ...exit,
      options: { ...exit.options, tamperByte },
    });
    const stopped = (ctx: typeof exit, tamperByte: number) => {
      const r = run(ctx, [E.obu(b2({ tamperByte }))]);
      expect(r.state).toEqual({ phase: "done", kind: "stop", outcome: "OBU_TAMPERED" });
      expect(commits(r.effects)[0]!.extra).toMatchObject({ tamperByte, obuStatusTampered: false });
      expect(r.effects.filter((e) => e.kind === "alarm").map((e) => e.code)).toEqual(["OBU_TAMPERED"]);
    };
    const trades = (ctx: typeof exit, tamperByte: number | null) =>
      expect(run(ctx, [E.obu(b2({ tamperByte }))]).state.phase).toBe("await-b3");
    // "stop-nonzero": 0 intact, anything else removed
    for (const b of [1, 0x5a, 0xff]) stopped(policy("stop-nonzero"), b);
    trades(policy("stop-nonzero"), 0);
    // "stop-zero": 0 removed (an encoding where 01 says fitted)
    stopped(policy("stop-zero"), 0);
    trades(policy("stop-zero"), 1);
    // "ignore" (the default: no reference gives the byte's values): any value trades, bit 1 still stops
    for (const b of [0, 1, 0xff]) trades(exit, b);
    const bit = run(exit, [E.obu(b2({ bits: { tampered: true } }))]);
    expect(commits(bit.effects)[0]!.extra).toMatchObject({ tamperByte: 0, obuStatusTampered: true });
    // a B2 without the byte is judged on bit 1 alone, whatever the setting
    for (const p of ["ignore", "stop-nonzero", "stop-zero"] as const) trades(policy(p), null);
  });

  it("exactly the balance is enough", () => {
    expect(run(exit, [E.obu(), E.veh(), E.card(b4({ balance: 1425 }))]).state.phase).toBe("await-b5");
  });

  it("status-list hits carry the list entry and versions used; they alarm", () => {
    const r = run(ctxFor("exit", { listedCard: new Set([CARD_ID]) }), [E.obu(), E.veh(), E.card()]);
    const rec = commits(r.effects)[0]!;
    expect(rec.statusListVersions).toEqual({ full: "20250716", delta: "202507161025" });
    expect(rec.extra).toMatchObject({ statusList: { kind: "card", id: CARD_ID } });
    expect(r.effects.some((e) => e.kind === "alarm" && e.code === "CARD_ON_STATUS_LIST")).toBe(true);
  });

  it("an OBU listed by a delta applied between its B2 and its B4 is stopped at B4, with that delta's versions", () => {
    // the list the B2 lookup saw did not list the OBU; the one the B4 lookup sees does
    const lists = [
      { full: "20250716", delta: "202507161025", obu: false },
      { full: "20250716", delta: "202507161030", obu: true },
    ];
    const asked: { cardId?: string; obuId?: string }[] = [];
    const base = ctxFor("exit");
    const ctx = ctxFor(
      "exit",
      {},
      {
        lookup: (q) => {
          asked.push(q);
          const l = lists[Math.min(asked.length - 1, 1)]!;
          const listed = q.obuId === OBU_SERIAL && l.obu;
          return {
            ...base.lookup(q),
            listed,
            ...(listed
              ? { entry: { kind: "obu", id: OBU_SERIAL, listType: 2, listTypeName: "status", reason: "d" } }
              : {}),
            versions: { full: l.full, delta: l.delta },
          };
        },
      },
    );
    const r = run(ctx, [E.obu(), E.veh(), E.card()]);
    const rec = expectStop(r, "OBU_ON_STATUS_LIST");
    expect(asked).toEqual([{ obuId: OBU_SERIAL }, { cardId: CARD_ID, obuId: OBU_SERIAL }]);
    expect(rec.statusListVersions).toEqual({ full: "20250716", delta: "202507161030" });
    expect(rec.extra).toMatchObject({ statusList: { kind: "obu", id: OBU_SERIAL } });
    expect(replies(r.effects).some((c) => c.kind === "debit")).toBe(false);
  });

  it("insufficient balance is stopped before any debit, with the message for the driver", () => {
    const r = run(exit, [E.obu(), E.veh(), E.card(b4({ balance: 100 }))]);
    expect(replies(r.effects).some((c) => c.kind === "debit")).toBe(false);
    expect(r.effects.find((e) => e.kind === "display")).toMatchObject({
      display: { text: "余额不足", detail: "请走人工车道" },
    });
  });

  it("asks once for an incomplete B4 to be resent (C2 StopType 2), then goes on", () => {
    const bad = E.card({ ...b4(), issuance: null });
    const r = run(exit, [E.obu(), E.veh(), bad]);
    expect(r.state.phase).toBe("await-b4");
    expect(replies(r.steps[2]!)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 2, timeMs: NOW }]);
    expect(run(exit, [E.obu(), E.veh(), bad, E.card()]).state.phase).toBe("await-b5");
  });

  it("an OBU that traded recently is answered with the configured StopType and not journaled", () => {
    const ctx = ctxFor("exit", { traded: new Set([OBU_SERIAL]) }, { alreadyTradedStopType: 3 });
    const r = run(ctx, [E.obu()]);
    expect(r.state).toMatchObject({ phase: "done", outcome: "ALREADY_TRADED" });
    expect(replies(r.effects)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 3, timeMs: NOW }]);
    expect(commits(r.effects)).toEqual([]);
    const byCard = run(ctxFor("exit", { traded: new Set([CARD_ID]) }), [E.obu(), E.veh(), E.card()]);
    expect(byCard.state).toMatchObject({ outcome: "ALREADY_TRADED" });
    // the C2 and a note only (docs/lane.md "Stop reasons"): no display, no barrier (no transaction in this
    // step), so a card paid here and read in another OBU lets no second vehicle through
    expect(r.effects.map((e) => e.kind)).toEqual(["reply", "note"]);
    expect(byCard.steps[2]!.map((e) => e.kind)).toEqual(["reply", "note"]);
  });

  // review finding (status list): the recent-trade pass ran before the lookup, so a card or OBU listed
  // since it paid here was stopped as ALREADY_TRADED (no record) within recentTradeWindowMs: in another OBU
  // too, as the card pass matches the card alone
  it("an OBU or card listed since it traded here is stopped as listed, not waved on as already traded", () => {
    const obu = run(ctxFor("exit", { traded: new Set([OBU_SERIAL]), listedObu: new Set([OBU_SERIAL]) }), [
      E.obu(),
    ]);
    expect(obu.state).toMatchObject({ phase: "done", outcome: "OBU_ON_STATUS_LIST" });
    const card = run(ctxFor("exit", { traded: new Set([CARD_ID]), listedCard: new Set([CARD_ID]) }), [
      E.obu(),
      E.veh(),
      E.card(),
    ]);
    expect(card.state).toMatchObject({ phase: "done", outcome: "CARD_ON_STATUS_LIST" });
    expect(commits(card.effects)).toMatchObject([{ kind: "stop", outcome: "CARD_ON_STATUS_LIST" }]);
  });

  // review finding (r2, 3): the OBU-status stops came before the recent-trade pass, so a paid vehicle's OBU
  // read again with its card pulled out was an OBU_NO_CARD stop (display, red light, record, booth case)
  // and (second review) not for a locked or removed OBU: an OBU handed back to the vehicle behind must keep
  // its OBU_TAMPERED record and alarm
  it("an OBU that traded recently is ALREADY_TRADED with no card, a card error or a low battery; still stopped when locked or removed, and as listed; an OBU that did not trade is stopped for them", () => {
    const traded = { traded: new Set([OBU_SERIAL]) };
    for (const bits of [{ cardPresent: false }, { cardError: true }, { batteryLow: true }]) {
      const again = run(ctxFor("exit", traded, { options: { ...exit.options, lowBattery: "stop" } }), [
        E.obu(b2({ bits })),
      ]);
      expect(again.state).toMatchObject({ phase: "done", outcome: "ALREADY_TRADED" });
      expect(again.effects.map((e) => e.kind)).toEqual(["reply", "note"]);
    }
    for (const [bits, reason] of [
      [{ locked: true }, "OBU_LOCKED"],
      [{ tampered: true }, "OBU_TAMPERED"],
      [{ cardPresent: false, tampered: true }, "OBU_TAMPERED"],
    ] as const)
      expectStop(run(ctxFor("exit", traded), [E.obu(b2({ bits }))]), reason);
    const tamperByte = run(
      ctxFor("exit", traded, { options: { ...exit.options, tamperByte: "stop-nonzero" } }),
      [E.obu(b2({ tamperByte: 1 }))],
    );
    expect(tamperByte.state).toMatchObject({ outcome: "OBU_TAMPERED" });
    const listed = run(ctxFor("exit", { ...traded, listedObu: new Set([OBU_SERIAL]) }), [
      E.obu(b2({ bits: { cardPresent: false } })),
    ]);
    expect(listed.state).toMatchObject({ outcome: "OBU_ON_STATUS_LIST" });
    expectStop(run(exit, [E.obu(b2({ bits: { cardPresent: false } }))]), "OBU_NO_CARD");
    expectStop(run(exit, [E.obu(b2({ bits: { locked: true } }))]), "OBU_LOCKED");
  });

  // review finding (r2 lane 1): B4 asked whether the OBU was held, not whether it paid since its B2: the
  // booth's charge of the vehicle's case (another card), paid between this OBU's B2 and B4, gave back its
  // hold, and the B4 of the card in the OBU got a C6: one trip, two debits
  it("an OBU whose trip was paid between its B2 and its B4 (the booth, with another card) gets no debit, whatever the recent-trade window", () => {
    for (const traded of [new Set<string>(), new Set([OBU_SERIAL])]) {
      // traded empty: recentTradeWindowMs 0 (the window remembers nothing); else the window has the OBU
      const f = { traded: new Set<string>(), paid: ["43010000000000000001"] };
      const ctx = ctxFor("exit", f);
      let t = transition({ phase: "idle" }, E.obu(), ctx);
      t = transition(t.state, E.veh(), ctx);
      // the booth's paid charge of the vehicle's case: rememberTraded of its card and the OBU
      f.paid.push("43019999999999999999", OBU_SERIAL);
      for (const id of traded) f.traded.add(id);
      t = transition(t.state, E.card(), ctx);
      expect(t.state).toEqual({ phase: "done", kind: "stop", outcome: "ALREADY_TRADED" });
      expect(replies(t.effects)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
      expect(t.effects).toContainEqual({
        kind: "note",
        code: "ALREADY_TRADED",
        message: `OBU ${OBU_SERIAL} paid since its B2`,
      });
      expect(commits(t.effects)).toEqual([]);
    }
    // a payment of the OBU before its B2 is the B2's business (the recent-trade window), not the B4's
    const before = ctxFor("exit", { paid: [OBU_SERIAL] });
    expect(run(before, [E.obu(), E.veh(), E.card()]).state.phase).toBe("await-b5");
  });

  it("a heartbeat-like or unrelated event in idle does nothing", () => {
    expect(transition({ phase: "idle" }, E.timeout, exit)).toEqual({ state: { phase: "idle" }, effects: [] });
    expect(transition({ phase: "idle" }, E.trade(), exit).effects).toEqual([]);
  });
});

describe("OBU machine: uncertain debits are never re-debited", () => {
  const exit = ctxFor("exit");
  const upToB5 = [E.obu(), E.veh(), E.card()];

  it("B5 ErrorCode 01 -> C8 with the B5 serial as the reply; B8 OK -> transaction with the re-fetched TAC", () => {
    const r = run(exit, [...upToB5, E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }))]);
    expect(r.state.phase).toBe("await-b8");
    expect(r.steps[3]).toEqual([
      { kind: "reply", command: { kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }, stage: "c8Out" },
    ]);
    expect(r.timeoutMs).toBe(1000);
    const done = run(exit, [
      ...upToB5,
      E.trade(b5({ errorCode: 1, result: "uncertain", tac: null })),
      E.tac(),
    ]);
    expect(done.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    const rec = commits(done.effects)[0]!;
    expect(rec).toMatchObject({ tac: "0badcafe", amount: 1425, balanceAfter: 8575, iccPaySerial: "0011" });
    expect(done.effects.filter((e) => e.kind === "barrier-open")).toHaveLength(1);
    expect(replies(done.effects).filter((c) => c.kind === "debit")).toHaveLength(1);
  });

  it("B5 ErrorCode 01 and the OBU gone (B8 fails) -> suspect record, C2, unsettled, no barrier", () => {
    const r = run(exit, [
      ...upToB5,
      E.trade(b5({ errorCode: 1, result: "uncertain", tac: null })),
      E.tac(b8({ errorCode: 1, result: "uncertain", tac: null })),
    ]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_NO_DSRC" });
    const rec = commits(r.effects)[0]!;
    expect(rec).toMatchObject({
      kind: "suspect",
      amount: 1425,
      cardId: CARD_ID,
      psamNo: "010203040506",
      iccPaySerial: "0011",
      transTime: "20250716103000",
    });
    expect(rec.extra).toMatchObject({
      uncertain: true,
      b5ErrorCode: 1,
      b8ErrorCode: 1,
      balanceBefore: 10_000,
    });
    expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
    expect(r.effects).toContainEqual({
      kind: "remember",
      unsettled: { obuSerial: OBU_SERIAL, cardId: CARD_ID },
    });
  });

  it("no B5 in time -> a suspect at once: no C8 (no serial to ask for), unknown fields null", () => {
    const r = run(exit, [...upToB5, E.timeout]);
    // defect 3: C8 went out with EpSerial 0 and the record said "0000"
    expect(replies(r.steps[3]!)).toEqual([]);
    expect(r.state).toMatchObject({ kind: "suspect", outcome: "B5_MISSING" });
    const rec = commits(r.effects)[0]!;
    expect(rec).toMatchObject({
      transTime: "20250716103000",
      tac: null,
      iccPaySerial: null,
      psamNo: null,
      psamTransSerial: null,
      transType: null,
      amount: 1425,
      rawB4: "b4raw",
      rawB5: null,
    });
  });

  it("B5 ErrorCode 01 without a serial (short error form): C2 and a suspect, no C8", () => {
    const short = b5({
      errorCode: 1,
      result: "uncertain",
      tac: null,
      iccPaySerial: null,
      psamNo: null,
      psamTransSerial: null,
      transTime: null,
      transType: null,
      balanceAfter: null,
    });
    const r = run(exit, [...upToB5, E.trade(short)]);
    expect(replies(r.steps[3]!)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    expect(r.state).toMatchObject({ kind: "suspect", outcome: "B5_NO_DSRC" });
    expect(commits(r.effects)[0]).toMatchObject({ iccPaySerial: null, tac: null, amount: 1425 });
  });

  it("a late complete B5 while waiting for B8 settles it as a normal transaction", () => {
    const r = run(exit, [
      ...upToB5,
      E.trade(b5({ errorCode: 1, result: "uncertain", tac: null })),
      E.trade(),
    ]);
    expect(r.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT" });
  });

  it("a new B2 from the OBU while the debit is open makes it a suspect (never a second debit)", () => {
    const r = run(exit, [...upToB5, E.superseded]);
    expect(r.state).toMatchObject({ kind: "suspect", outcome: "SUPERSEDED" });
    expect(replies(r.effects).filter((c) => c.kind === "debit")).toHaveLength(1);
  });
});

describe("OBU machine: a paid record needs everything clearing needs (defect 1)", () => {
  const exit = ctxFor("exit");
  const upToB5 = [E.obu(), E.veh(), E.card()];

  for (const field of ["tac", "psamNo", "psamTransSerial", "balanceAfter", "transTime"] as const) {
    it(`B5 ErrorCode 00 without ${field}: C8 with the B5's serial, never a paid record`, () => {
      const r = run(exit, [...upToB5, E.trade(b5({ [field]: null }))]);
      expect(r.state.phase).toBe("await-b8");
      expect(commits(r.effects)).toEqual([]);
      expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
      expect(r.steps[3]).toEqual([
        { kind: "reply", command: { kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }, stage: "c8Out" },
      ]);
      const gone = run(exit, [...upToB5, E.trade(b5({ [field]: null })), E.timeout]);
      expect(gone.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_INCOMPLETE" });
      const rec = commits(gone.effects)[0]!;
      expect(rec.kind).toBe("suspect");
      expect(rec.extra).toMatchObject({ b5Missing: [field], b5ErrorCode: 0 });
      expect(gone.effects).toContainEqual({
        kind: "remember",
        unsettled: { obuSerial: OBU_SERIAL, cardId: CARD_ID },
      });
    });
  }

  // decided (docs/protocol.md §6): a TAC of zeros is no TAC; serials of 0 are taken as reported
  it("B5 ErrorCode 00 whose TAC is all zeros: C8 with its serial (0 too), never a paid record; a B8 with a TAC proves it", () => {
    const zeros = b5({ tac: "00000000", iccPaySerial: 0, psamTransSerial: 0 });
    const r = run(exit, [...upToB5, E.trade(zeros)]);
    expect(r.state.phase).toBe("await-b8");
    expect(r.steps[3]).toEqual([
      { kind: "reply", command: { kind: "fetch-tac", obuId: OBU_ID, epSerial: 0 }, stage: "c8Out" },
    ]);
    const gone = run(exit, [...upToB5, E.trade(zeros), E.timeout]);
    expect(gone.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_INCOMPLETE" });
    const rec = commits(gone.effects)[0]!;
    expect(rec).toMatchObject({ tac: null, iccPaySerial: "0000", psamTransSerial: "00000000" });
    expect(rec.extra).toMatchObject({ b5Missing: ["tac"], problem: expect.stringContaining("all zeros") });
    const proved = run(exit, [...upToB5, E.trade(zeros), E.tac()]);
    expect(proved.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    expect(commits(proved.effects)[0]).toMatchObject({ tac: "0badcafe", iccPaySerial: "0000" });
  });

  it("B5 ErrorCode 00 without the card offline serial: C2 and a suspect (nothing to ask C8 for)", () => {
    const r = run(exit, [...upToB5, E.trade(b5({ iccPaySerial: null, tac: null }))]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_INCOMPLETE" });
    expect(replies(r.steps[3]!)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    const rec = commits(r.effects)[0]!;
    expect(rec).toMatchObject({ kind: "suspect", tac: null, iccPaySerial: null, amount: 1425 });
    expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
  });

  it("an incomplete B5 proved by B8: a paid record with the B8's TAC and the B5's serials", () => {
    const r = run(exit, [...upToB5, E.trade(b5({ tac: null })), E.tac()]);
    expect(r.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    expect(commits(r.effects)[0]).toMatchObject({
      tac: "0badcafe",
      iccPaySerial: "0011",
      psamNo: "010203040506",
      psamTransSerial: "00000063",
      balanceAfter: 8575,
    });
  });

  it("a B8 'ok' whose balance disagrees with balance before - amount is a suspect, not a success", () => {
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const r = run(exit, [...upToB5, uncertainB5, E.tac(b8({ balance: 10_000 }))]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_NO_DSRC" });
    const rec = commits(r.effects)[0]!;
    expect(rec.tac).toBeNull();
    expect(rec.extra).toMatchObject({ b8: { tac: "0badcafe", balance: 10_000 } });
    expect(String(rec.extra?.problem)).toMatch(
      /balance after 10000 is not balance before 10000 - amount 1425/,
    );
    expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
  });

  it("a B8 'ok' without a TAC, with a TAC of zeros, or without a balance is a suspect", () => {
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    for (const over of [{ tac: null }, { tac: "00000000" }, { balance: null }]) {
      const r = run(exit, [...upToB5, uncertainB5, E.tac(b8(over))]);
      expect(r.state).toMatchObject({ kind: "suspect", outcome: "B5_NO_DSRC" });
    }
  });

  it("a B8 'ok' for a B5 that named no PSAM serial cannot be cleared: a suspect", () => {
    const r = run(exit, [...upToB5, E.trade(b5({ tac: null, psamTransSerial: null })), E.tac()]);
    expect(r.state).toMatchObject({ kind: "suspect", outcome: "B5_INCOMPLETE" });
  });

  it("a credit card's B8 balance is not compared (no stored value), but must be there", () => {
    const credit = E.card(b4({ card: { cardType: 0x17 } }));
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const r = run(exit, [E.obu(), E.veh(), credit, uncertainB5, E.tac(b8({ balance: 123 }))]);
    expect(r.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
  });

  it("a B8 code classed failed (card untouched) is a TRADE_FAILED stop: no hold (one a restart placed ends)", () => {
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const r = run(exit, [
      ...upToB5,
      uncertainB5,
      E.tac(b8({ errorCode: 0x42, result: "failed", tac: null })),
    ]);
    const rec = expectStop(r, "TRADE_FAILED");
    expect(rec.extra).toMatchObject({ b8ErrorCode: 0x42, b5ErrorCode: 1 });
    expect(r.effects.filter((e) => e.kind === "remember")).toEqual([
      { kind: "remember", released: { obuSerial: OBU_SERIAL, cardId: CARD_ID } },
    ]);
  });
});

describe("OBU machine: an answer proves only the debit it agrees with (review finding 1)", () => {
  const exit = ctxFor("exit");
  const upToB5 = [E.obu(), E.veh(), E.card()];
  const c8 = { kind: "reply", command: { kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }, stage: "c8Out" };

  it("in time, a complete B5 00 whose balance is not balance before - amount: C8, never a paid record", () => {
    // balance before 10000, C6 ConsumeMoney 1425: the card says 9000
    const r = run(exit, [...upToB5, E.trade(b5({ balanceAfter: 9000 }))]);
    expect(r.state).toMatchObject({ phase: "await-b8", why: "B5_MISMATCH" });
    expect(r.steps[3]).toEqual([c8]);
    expect(commits(r.effects)).toEqual([]);
    const gone = run(exit, [...upToB5, E.trade(b5({ balanceAfter: 9000 })), E.timeout]);
    expect(gone.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_MISMATCH" });
    const rec = commits(gone.effects)[0]!;
    expect(rec).toMatchObject({ kind: "suspect", amount: 1425, tac: null, balanceBefore: 10_000 });
    expect(String(rec.extra?.problem)).toMatch(
      /balance after 9000 is not balance before 10000 - amount 1425/,
    );
    expect(gone.effects.some((e) => e.kind === "barrier-open")).toBe(false);
    expect(gone.effects).toContainEqual({
      kind: "remember",
      unsettled: { obuSerial: OBU_SERIAL, cardId: CARD_ID },
    });
  });

  it("in time, a complete B5 00 whose TransTime is not the C6 PurchaseTime: C8, and its B8 cannot prove it", () => {
    const dayBefore = E.trade(b5({ transTime: "20250715103000" }));
    const r = run(exit, [...upToB5, dayBefore]);
    expect(r.state).toMatchObject({ phase: "await-b8", why: "B5_MISMATCH" });
    expect(r.steps[3]).toEqual([c8]);
    // the B8 proves the purchase of that B5, made at another time: not this debit
    const b8d = run(exit, [...upToB5, dayBefore, E.tac()]);
    expect(b8d.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_MISMATCH" });
    const rec = commits(b8d.effects)[0]!;
    expect(rec.tac).toBeNull();
    // the record keeps the time the C6 sent, which a late answer must carry
    expect(rec.transTime).toBe("20250716103000");
    expect(String(rec.extra?.problem)).toMatch(
      /TransTime 20250715103000 is not the PurchaseTime 20250716103000 sent/,
    );
    expect(b8d.effects.some((e) => e.kind === "barrier-open")).toBe(false);
  });

  it("a B5 whose balance disagreed is proved by a B8 that agrees: the B8's TAC and balance", () => {
    const r = run(exit, [...upToB5, E.trade(b5({ balanceAfter: 9000 })), E.tac()]);
    expect(r.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    expect(commits(r.effects)[0]).toMatchObject({ tac: "0badcafe", balanceAfter: 8575, amount: 1425 });
  });

  it("a credit card's B5 balance is not compared (notional balance); its TransTime is", () => {
    const credit = E.card(b4({ card: { cardType: 0x17 } }));
    const paid = run(exit, [E.obu(), E.veh(), credit, E.trade(b5({ balanceAfter: 123 }))]);
    expect(paid.state).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT" });
    const late = run(exit, [E.obu(), E.veh(), credit, E.trade(b5({ transTime: "20250716103001" }))]);
    expect(late.state).toMatchObject({ phase: "await-b8", why: "B5_MISMATCH" });
  });

  it("entry (amount 0): the balance after must be the balance before on a stored-value card", () => {
    const entry = ctxFor("entry");
    const fresh = E.card(b4({ entry: { status: 0x04 } }));
    const ok = run(entry, [E.obu(), E.veh(), fresh, E.trade(b5({ balanceAfter: 10_000 }))]);
    expect(ok.state).toMatchObject({ kind: "transaction", outcome: "ENTRY_WRITE" });
    const off = run(entry, [E.obu(), E.veh(), fresh, E.trade(b5({ balanceAfter: 9_999 }))]);
    expect(off.state).toMatchObject({ phase: "await-b8", why: "B5_MISMATCH" });
  });

  it("in await-b8, a complete B5 00 of another card offline serial is not this debit's proof: C2 and a suspect naming it", () => {
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const other = { kind: "trade", info: b5({ iccPaySerial: 5 }), raw: "otherb5" } as ObuEvent;
    const r = run(exit, [...upToB5, uncertainB5, other]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_NO_DSRC" });
    expect(replies(r.steps[4]!)).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    const rec = commits(r.effects)[0]!;
    // the record keeps the B5 whose serial the C8 asked about, and names the one that contradicts it
    expect(rec).toMatchObject({ kind: "suspect", tac: null, iccPaySerial: "0011", rawB5: "b5raw" });
    expect(rec.extra).toMatchObject({ contradictingB5: "otherb5" });
    expect(String(rec.extra?.problem)).toMatch(/card offline serial 0005 is not 0011/);
    expect(r.effects.some((e) => e.kind === "barrier-open")).toBe(false);
  });

  it("in await-b8 after a B5_MISMATCH, the same B5 again (another frame of it): ignored, the C8 keeps waiting for its B8", () => {
    const bad = b5({ balanceAfter: 8500 });
    const r = run(exit, [...upToB5, E.trade(bad)]);
    expect(r.state).toMatchObject({ phase: "await-b8", why: "B5_MISMATCH" });
    // another RSCTL/SEQ: other bytes on the wire, the same answer
    const again = transition(r.state, { kind: "trade", info: { ...bad }, raw: "b5raw-seq2" }, exit);
    expect(again.state).toBe(r.state);
    // no reply, no record: a note the effect runner logs
    const ignored = [
      {
        kind: "note",
        code: "B5_REPEATED",
        message: "the B5 the C8 answered, sent again: ignored, waiting for the B8",
      },
    ];
    expect(again.effects).toEqual(ignored);
    // the very same bytes, too
    expect(transition(r.state, E.trade(bad), exit).effects).toEqual(ignored);
    // ... and the B8 it waited for still settles it
    expect(transition(again.state, E.tac(), exit).state).toMatchObject({ kind: "transaction" });
  });

  it("in await-b8 after an uncertain B5 (01), the same B5 01 again: ignored with its B5_REPEATED note; another uncertain B5 silently", () => {
    const uncertain = b5({ errorCode: 1, result: "uncertain", tac: null });
    const r = run(exit, [...upToB5, E.trade(uncertain)]);
    expect(r.state).toMatchObject({ phase: "await-b8", why: "B5_NO_DSRC" });
    const again = transition(r.state, { kind: "trade", info: { ...uncertain }, raw: "b5raw-seq2" }, exit);
    expect(again.state).toBe(r.state);
    expect(again.effects).toEqual([
      {
        kind: "note",
        code: "B5_REPEATED",
        message: "the B5 the C8 answered, sent again: ignored, waiting for the B8",
      },
    ]);
    // an uncertain B5 of another serial is no repeat: still no reply, no note, the C8 keeps waiting
    const other = transition(r.state, E.trade({ ...uncertain, iccPaySerial: 5 }), exit);
    expect(other.state).toBe(r.state);
    expect(other.effects).toEqual([]);
  });

  it("in await-b8, the B5 the C8 answered repeated within the RSU's retransmission schedule: the same C8 again, same state, deadline kept", () => {
    const uncertain = b5({ errorCode: 1, result: "uncertain", tac: null });
    const r = run(exit, [...upToB5, E.trade(uncertain)]);
    expect(r.state).toMatchObject({ phase: "await-b8", why: "B5_NO_DSRC" });
    const c8 = replies(r.steps[3]!);
    expect(c8).toEqual([{ kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }]);
    const again = transition(
      r.state,
      { kind: "trade", info: { ...uncertain }, raw: "b5raw", withinRetries: true },
      exit,
    );
    // the same state object: no intent write (machines.ts writes one on a new debit state), no new deadline
    expect(again.state).toBe(r.state);
    expect(again.timeoutMs).toBeUndefined();
    expect(replies(again.effects)).toEqual(c8);
    expect(again.effects).toEqual([
      { kind: "reply", command: c8[0], stage: "c8Resend" },
      expect.objectContaining({ kind: "note", code: "C8_RESENT" }),
    ]);
    expect(commits(again.effects)).toEqual([]);
    // a B5 that is not the one answered keeps its handling (no reply), within the schedule too
    const other = transition(
      r.state,
      { kind: "trade", info: { ...uncertain, errorCode: 2 }, raw: "b5raw", withinRetries: true },
      exit,
    );
    expect(other.state).toBe(r.state);
    expect(other.effects).toEqual([]);
    // ... and the B8 still settles the debit
    expect(transition(again.state, E.tac(), exit).state).toMatchObject({ kind: "transaction" });
  });

  it("in await-b8, a complete B5 00 of the serial asked about whose balance disagrees: a suspect, never paid", () => {
    const uncertainB5 = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const r = run(exit, [...upToB5, uncertainB5, E.trade(b5({ balanceAfter: 1 }))]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "B5_NO_DSRC" });
    expect(String(commits(r.effects)[0]!.extra?.problem)).toMatch(/balance after 1 is not/);
  });
});

describe("OBU machine: the lane closing and stopping", () => {
  const exit = ctxFor("exit");
  const upToB5 = [E.obu(), E.veh(), E.card()];

  it("a debit in flight keeps waiting when the lane closes (link blip): same state, deadline kept", () => {
    const t = run(exit, upToB5);
    const next = transition(t.state, { kind: "lane-closed" }, exit);
    expect(next.state).toBe(t.state);
    expect(next.effects).toEqual([]);
    expect(next.timeoutMs).toBeUndefined();
    // ... and its B5 still settles it normally
    expect(transition(next.state, E.trade(), exit).state).toMatchObject({ kind: "transaction" });
  });

  it("the drain window over: a debit in flight is a LANE_STOPPED suspect", () => {
    const r = run(exit, [...upToB5, { kind: "lane-stopped" }]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "LANE_STOPPED" });
  });

  it("an event the state ignores keeps the running deadline (no new timeoutMs)", () => {
    const t = run(exit, upToB5);
    const next = transition(t.state, E.veh(), exit);
    expect(next).toEqual({ state: t.state, effects: [] });
  });
});

describe("OBU machine: a debit restored after a crash (answer kept in the intent)", () => {
  const exit = ctxFor("exit");
  const upToB5 = [E.obu(), E.veh(), E.card()];
  const recovered = (answer?: Extract<ObuEvent, { kind: "trade" | "tac" }>): ObuEvent =>
    answer ? { kind: "recovered", answer } : { kind: "recovered" };

  it("a complete B5: the transaction with its TAC, no reply, no barrier, no display; the hold ends", () => {
    const r = run(exit, [...upToB5, recovered(E.trade() as Extract<ObuEvent, { kind: "trade" }>)]);
    const last = r.steps.at(-1)!;
    expect(r.state).toEqual({ phase: "done", kind: "transaction", outcome: "EXIT_DEBIT" });
    expect(last.map((e) => e.kind)).toEqual(["commit", "remember"]);
    expect(commits(last)[0]).toMatchObject({
      kind: "transaction",
      tac: "a1b2c3d4",
      iccPaySerial: "0011",
      amount: 1425,
      extra: { recoveredFrom: "intent" },
    });
    expect(last).toContainEqual(
      expect.objectContaining({ kind: "remember", released: { obuSerial: OBU_SERIAL, cardId: CARD_ID } }),
    );
  });

  it("a B8 that proves the uncertain B5: the transaction with the B8's TAC", () => {
    const uncertain = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null }));
    const r = run(exit, [...upToB5, uncertain, recovered(E.tac() as Extract<ObuEvent, { kind: "tac" }>)]);
    expect(r.state).toEqual({ phase: "done", kind: "transaction", outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    expect(commits(r.steps.at(-1)!)[0]).toMatchObject({
      tac: "0badcafe",
      extra: { recoveredFrom: "intent" },
    });
  });

  it("a B5 the RSU's table calls failed: the TRADE_FAILED stop, without a C2, and the hold ends", () => {
    const failed = E.trade(b5({ errorCode: 6, result: "failed", tac: null })) as Extract<
      ObuEvent,
      { kind: "trade" }
    >;
    const r = run(exit, [...upToB5, recovered(failed)]);
    const last = r.steps.at(-1)!;
    expect(r.state).toEqual({ phase: "done", kind: "stop", outcome: "TRADE_FAILED" });
    expect(replies(last)).toEqual([]);
    expect(last.filter((e) => e.kind === "display")).toEqual([]);
    expect(last).toContainEqual({ kind: "remember", released: { obuSerial: OBU_SERIAL, cardId: CARD_ID } });
  });

  it("an answer that would not end the debit (an uncertain B5): a CRASH_RECOVERED suspect with its serial, no C8", () => {
    const uncertain = E.trade(b5({ errorCode: 1, result: "uncertain", tac: null })) as Extract<
      ObuEvent,
      { kind: "trade" }
    >;
    const r = run(exit, [...upToB5, recovered(uncertain)]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "CRASH_RECOVERED" });
    expect(replies(r.steps.at(-1)!)).toEqual([]);
    expect(commits(r.steps.at(-1)!)[0]).toMatchObject({ iccPaySerial: "0011", tac: null });
  });

  it("restored in await-b8, the B5 its C8 asks about repeated (any result): that C8 from a new state (its intent rewritten), b8TimeoutMs; another B5 is not it", () => {
    const c8 = { kind: "reply", command: { kind: "fetch-tac", obuId: OBU_ID, epSerial: 17 }, stage: "c8Out" };
    for (const named of [
      b5({ errorCode: 1, result: "uncertain", tac: null }), // B5_NO_DSRC
      b5({ balanceAfter: 8500 }), // B5_MISMATCH: a B5 00 the C8 answered
    ]) {
      const s = run(exit, [...upToB5, E.trade(named)]).state;
      expect(s.phase).toBe("await-b8");
      const again = transition(s, { kind: "trade", info: { ...named }, raw: "b5raw", restored: true }, exit);
      expect(again.state).toEqual(s);
      expect(again.state).not.toBe(s); // entered again: machines.ts rewrites the intent before the C8
      expect(again.effects).toEqual([c8]);
      expect(again.timeoutMs).toBe(exit.options.b8TimeoutMs);
      // of another card offline serial, uncertain: not the B5 the C8 asks about, nothing sent
      const other = b5({ errorCode: 1, result: "uncertain", tac: null, iccPaySerial: 5 });
      const ignored = transition(s, { kind: "trade", info: other, raw: "x", restored: true }, exit);
      expect(ignored).toEqual({ state: s, effects: [] });
    }
  });

  it("no answer: a CRASH_RECOVERED suspect, the card stays held", () => {
    const r = run(exit, [...upToB5, recovered()]);
    expect(r.state).toEqual({ phase: "done", kind: "suspect", outcome: "CRASH_RECOVERED" });
    expect(r.steps.at(-1)!.filter((e) => e.kind === "remember")).toEqual([
      { kind: "remember", unsettled: { obuSerial: OBU_SERIAL, cardId: CARD_ID } },
    ]);
  });
});

describe("OBU machine: status-list failures are not bad card data (defect 12)", () => {
  it("a card lookup that throws: STATUS_LIST_FAILED with the error and an alarm, never CARD_DATA_INVALID", () => {
    let calls = 0;
    const ctx = ctxFor(
      "exit",
      {},
      {
        lookup: (q) => {
          calls++;
          if (q.cardId !== undefined) boom();
          return { listed: false, versions: { full: "f", delta: null } };
        },
      },
    );
    const r = run(ctx, [E.obu(), E.veh(), E.card()]);
    const rec = expectStop(r, "STATUS_LIST_FAILED");
    expect(calls).toBe(2);
    expect(rec.extra).toMatchObject({ lookupError: "SQLITE_IOERR: disk I/O error", id: "card" });
    expect(r.effects.some((e) => e.kind === "alarm" && e.code === "STATUS_LIST_FAILED")).toBe(true);
    expect(replies(r.effects).some((c) => c.kind === "debit")).toBe(false);
  });

  // review of this session's change (the lookup before the recent-trade pass): a lookup that fails must
  // not stop, and journal, a vehicle that just paid here and is re-read in the zone
  it("a vehicle that just paid, re-read while the lookup fails: ALREADY_TRADED as before, no stop recorded", () => {
    const obu = run(ctxFor("exit", { traded: new Set([OBU_SERIAL]) }, { lookup: () => boom() }), [E.obu()]);
    expect(obu.state).toMatchObject({ phase: "done", outcome: "ALREADY_TRADED" });
    expect(commits(obu.effects)).toEqual([]);
    const cardOnly = (q: { cardId?: string }) => {
      if (q.cardId !== undefined) boom();
      return { listed: false, versions: { full: "f", delta: null } };
    };
    const card = run(ctxFor("exit", { traded: new Set([CARD_ID]) }, { lookup: cardOnly }), [
      E.obu(),
      E.veh(),
      E.card(),
    ]);
    expect(card.state).toMatchObject({ phase: "done", outcome: "ALREADY_TRADED" });
    expect(commits(card.effects)).toEqual([]);
  });

  it("an unhealthy list traded under the 'trade' policy leaves a warning on the record", () => {
    const ctx = ctxFor(
      "exit",
      {},
      {
        lookup: () => ({ listed: false, health: "past-hard-age", versions: { full: "f", delta: null } }),
      },
    );
    const r = run(ctx, [E.obu(), E.veh(), E.card(), E.trade()]);
    expect(commits(r.effects)[0]!.extra).toMatchObject({ warnings: ["STATUS_LIST_PAST_HARD_AGE"] });
  });
});
