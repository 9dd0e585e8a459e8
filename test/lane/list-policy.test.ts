/**
 * The status-list policy (src/lane/list-policy.ts) over the real list cache (src/status-list), driven
 * through the pure OBU machine: a listed id never passes because of how or when a list was loaded.
 * - a list whose database fails under the lane: the lookup throws E516 and the vehicle is stopped
 *   STATUS_LIST_FAILED (the record names E516), never traded;
 * - no list loaded: the cache answers noList; under whenMissing "trade" the vehicle trades, its records
 *   say the list was not checked; under "close" it is stopped STATUS_LIST_FAILED;
 * - E510 (a malformed id) never reaches the lookup: the machine validates the OBU contract serial and the
 *   card id first (a property over arbitrary ids).
 */
import { truncateSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { ListPolicy } from "../../src/lane/list-policy.js";
import { transition } from "../../src/lane/obu-machine.js";
import type { Effect, ObuEvent, ObuState } from "../../src/lane/obu-machine-types.js";
import type { StatusListPolicy } from "../../src/lane/ports.js";
import { StatusListCache, StatusListErrors } from "../../src/status-list/index.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "../status-list/helpers.js";
import { b2, b3, b4, b5, CARD_ID, ctxFor, OBU_SERIAL } from "./machine-fixtures.js";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir("etc-lane-policy-");
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

function policyOver(p: StatusListPolicy): { policy: ListPolicy; alarms: string[] } {
  const alarms: string[] = [];
  const policy = new ListPolicy({
    list: cache,
    policy: p,
    alarmRepeatMs: 60_000,
    now: () => performance.now(),
    alarm: (code) => alarms.push(code),
    alarmLater: (code) => alarms.push(code),
  });
  policy.onHealth(cache.health());
  return { policy, alarms };
}

/** One vehicle through the machine with the policy's lookup; its records, in order. */
function vehicle(policy: ListPolicy, events: ObuEvent[]): { records: NewLaneRecord[]; effects: Effect[] } {
  const ctx = ctxFor("exit", {}, { lookup: (q) => policy.lookup(q) });
  let state: ObuState = { phase: "idle" };
  const effects: Effect[] = [];
  for (const ev of events) {
    const t = transition(state, ev, ctx);
    state = t.state;
    effects.push(...t.effects);
  }
  return { records: effects.flatMap((e) => (e.kind === "commit" ? [e.record] : [])), effects };
}

const PAYS: ObuEvent[] = [
  { kind: "obu", info: b2() },
  { kind: "vehicle", info: b3() },
  { kind: "card", info: b4(), raw: "b4" },
  { kind: "trade", info: b5(), raw: "b5" },
];

describe("a listed vehicle never passes because of the list's state", () => {
  it("the list's database fails under the lane: E516, a STATUS_LIST_FAILED stop naming it, never a debit", async () => {
    await cache.applyBundle(
      full("202507310000", [
        { kind: "obu", id: OBU_SERIAL, listType: 1, reason: "test" },
        { kind: "card", id: CARD_ID, listType: 1, reason: "test" },
      ]),
    );
    const { policy } = policyOver({ whenMissing: "close", whenPastHardAge: "trade" });
    // the list's file fails under the lane (cut to nothing, as a failing disk would) before this vehicle
    truncateSync(join(cache.dir, cache.info().db as string), 0);
    const { records, effects } = vehicle(policy, PAYS);
    expect(records.map((r) => [r.kind, r.outcome])).toEqual([["stop", "STATUS_LIST_FAILED"]]);
    expect(records[0]!.extra).toMatchObject({ lookupCode: StatusListErrors.LookupFailed, id: "obu" });
    expect(effects.some((e) => e.kind === "alarm" && e.code === "STATUS_LIST_FAILED")).toBe(true);
    expect(effects.some((e) => e.kind === "reply" && e.command.kind === "debit")).toBe(false);
  });

  it("no list loaded, whenMissing 'close': the vehicle is stopped STATUS_LIST_FAILED even if the health said ok", () => {
    const { policy } = policyOver({ whenMissing: "close", whenPastHardAge: "trade" });
    policy.onHealth({ state: "ok", reason: "a health that has not caught up" });
    const { records } = vehicle(policy, PAYS);
    expect(records.map((r) => r.outcome)).toEqual(["STATUS_LIST_FAILED"]);
  });

  it("no list loaded, whenMissing 'trade': paid, the record says not checked (versions null), one alarm", () => {
    const { policy, alarms } = policyOver({ whenMissing: "trade", whenPastHardAge: "trade" });
    const { records } = vehicle(policy, PAYS);
    expect(records.map((r) => r.outcome)).toEqual(["EXIT_DEBIT"]);
    expect(records[0]).toMatchObject({
      statusListVersions: { full: null, delta: null },
      extra: { statusListChecked: false, warnings: ["STATUS_LIST_MISSING"] },
    });
    expect(alarms).toEqual(["STATUS_LIST_MISSING", "STATUS_LIST_NOT_CHECKED"]);
  });

  it("a list loaded: the record says nothing of an unchecked or missing list, even before the health caught up", async () => {
    const { policy } = policyOver({ whenMissing: "trade", whenPastHardAge: "trade" }); // health: missing
    await cache.applyBundle(full("202507310000", []));
    const { records } = vehicle(policy, PAYS);
    expect(records[0]!.statusListVersions).toEqual({ full: "202507310000", delta: null });
    expect(records[0]!.extra?.statusListChecked).toBeUndefined();
    expect(records[0]!.extra?.warnings).toBeUndefined();
  });
});

describe("every list type stops the vehicle (docs/status-list.md section 1)", () => {
  // green-channel and emergency-rescue are exemption lists, yet an id on them is stopped as listed: the
  // lane cannot check the exemption's conditions (cargo, the rescue), so it fails closed: the vehicle
  // goes to the manual lane, where staff check the exemption
  it.each([
    [3, "green-channel"],
    [4, "emergency-rescue"],
    [5, "two-passenger-one-hazard"],
    [6, "other"],
    [200, "type-200"],
  ])(
    "list type %i (%s): the OBU is stopped OBU_ON_STATUS_LIST, the card CARD_ON_STATUS_LIST",
    async (listType, name) => {
      const { policy } = policyOver({ whenMissing: "close", whenPastHardAge: "close" });
      await cache.applyBundle(full("202507310000", [{ kind: "obu", id: OBU_SERIAL, listType, reason: "x" }]));
      policy.onHealth(cache.health());
      const byObu = vehicle(policy, PAYS).records;
      expect(byObu.map((r) => r.outcome)).toEqual(["OBU_ON_STATUS_LIST"]);
      expect(byObu[0]!.extra?.statusList).toMatchObject({ kind: "obu", listType, listTypeName: name });
      await cache.applyBundle(
        delta("202507310005", "202507310000", [
          { kind: "obu", id: OBU_SERIAL, listType, reason: "", op: "remove" },
          { kind: "card", id: CARD_ID, listType, reason: "x" },
        ]),
      );
      const byCard = vehicle(policy, PAYS).records;
      expect(byCard.map((r) => r.outcome)).toEqual(["CARD_ON_STATUS_LIST"]);
      expect(byCard[0]!.extra?.statusList).toMatchObject({ kind: "card", listType, listTypeName: name });
    },
  );
});

describe("a list whose lookup failed and which then passes its hard age", () => {
  /**
   * The list fails (its file cut to nothing), and then, still failed (no lookup read the database since),
   * ages past its hard limit: the policy for a list past its hard age applies all the same. Most lookups
   * never read the database (the filter answers them), so the failure can last.
   */
  async function failedThenPastHardAge(p: StatusListPolicy): Promise<{
    policy: ListPolicy;
    alarms: string[];
  }> {
    await cache.close();
    const t0 = Date.parse("2026-11-23T00:00:00Z");
    let wall = t0;
    let mono = 5_000;
    cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      now: () => wall,
      monotonicNow: () => mono,
      limits: { deltaMaxAgeMs: 30 * 60_000, fullMaxAgeMs: 48 * 3600_000, hardMaxAgeMs: 2 * 3600_000 },
    });
    await cache.applyBundle(full("202611230000", sampleRows(10), { createdAt: t0 }));
    const { policy, alarms } = policyOver(p);
    cache.health$.subscribe((h) => policy.onHealth(h));
    truncateSync(join(cache.dir, cache.info().db as string), 0);
    // a listed card passes the filter and reads the database, which fails: health failed
    expect(() => cache.lookup({ cardId: card(1) })).toThrow(
      expect.objectContaining({ code: StatusListErrors.LookupFailed }),
    );
    expect(cache.health()).toMatchObject({ state: "failed", pastHardAge: null });
    expect(policy.closes()).toBeNull();
    wall += 121 * 60_000;
    mono += 121 * 60_000;
    vi.advanceTimersByTime(121 * 60_000); // the health's timer for the hard limit
    expect(cache.health()).toMatchObject({
      state: "failed",
      pastHardAge: "the newest update, full list 202611230000, is 2.0 h old (hard limit 2.0 h)",
    });
    return { policy, alarms };
  }

  it("whenPastHardAge 'close': the lane closes, a vehicle the filter answers is stopped, one alarm for the hard age", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const { policy, alarms } = await failedThenPastHardAge({
        whenMissing: "close",
        whenPastHardAge: "close",
      });
      expect(policy.closes()).toMatch(
        /^status list failed: status-list lookup failed: .*; and past its hard age: the newest update, full list 202611230000, is 2\.0 h old/,
      );
      expect(alarms).toEqual(["STATUS_LIST_FAILED", "STATUS_LIST_PAST_HARD_AGE"]);
      const { records, effects } = vehicle(policy, PAYS);
      expect(records.map((r) => [r.kind, r.outcome])).toEqual([["stop", "STATUS_LIST_FAILED"]]);
      expect(effects.some((e) => e.kind === "reply" && e.command.kind === "debit")).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("whenPastHardAge 'trade': the same vehicle is answered by the filter and paid, its record warns of the hard age", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const { policy, alarms } = await failedThenPastHardAge({
        whenMissing: "close",
        whenPastHardAge: "trade",
      });
      expect(policy.closes()).toBeNull();
      expect(alarms).toEqual(["STATUS_LIST_FAILED", "STATUS_LIST_PAST_HARD_AGE"]);
      const { records } = vehicle(policy, PAYS);
      expect(records.map((r) => r.outcome)).toEqual(["EXIT_DEBIT"]);
      expect(records[0]!.extra?.warnings).toEqual(["STATUS_LIST_PAST_HARD_AGE"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a malformed id (E510) never reaches the lookup", () => {
  it("whatever OBU contract serial and card number the RSU reports, the machine asks only with valid ids", async () => {
    await cache.applyBundle(full("202507310000", []));
    const { policy } = policyOver({ whenMissing: "close", whenPastHardAge: "trade" });
    const thrown: string[] = [];
    const ctx = ctxFor(
      "exit",
      {},
      {
        lookup: (q) => {
          try {
            return policy.lookup(q);
          } catch (e) {
            thrown.push(`${(e as { code?: string }).code}: ${JSON.stringify(q)}`);
            throw e;
          }
        },
      },
    );
    const id = fc.oneof(
      fc.string({ maxLength: 22 }),
      fc.stringMatching(/^[0-9A-Fa-f]{14,18}$/),
      fc.stringMatching(/^[0-9]{3,5}$/),
      fc.stringMatching(/^[0-9 ]{15,17}$/),
    );
    fc.assert(
      fc.property(id, id, id, (serial, network, cardSerial) => {
        let state: ObuState = { phase: "idle" };
        for (const ev of [
          { kind: "obu", info: b2({ contractSerial: serial }) },
          { kind: "vehicle", info: b3() },
          { kind: "card", info: b4({ card: { cardNetwork: network, cardSerial } }), raw: "b4" },
        ] as ObuEvent[])
          state = transition(state, ev, ctx).state;
      }),
      { numRuns: 2000 },
    );
    expect(thrown).toEqual([]);
  });
});
