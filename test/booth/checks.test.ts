/**
 * The booth's status-list decision (src/booth/checks.ts) over the real list cache (src/status-list) and
 * the lane's own policy (src/lane/list-policy.ts, the object the controller lends the booth): a listed
 * card or OBU never passes at the booth because of how or when a list was loaded, exactly as on the RSU
 * path (test/lane/list-policy.test.ts):
 * - no list under whenMissing "close": STATUS_LIST_FAILED;
 * - no list under "trade": the case trades, the check says the list was not checked (versions null) and
 *   one STATUS_LIST_NOT_CHECKED alarm goes out per alarmRepeatMs, shared with the RSU path's lookups;
 * - a lookup the list cannot answer (E516): STATUS_LIST_FAILED naming it;
 * - a listed card, or the listed OBU the DSRC attempt read: refused.
 * The end-to-end cases (no DEBIT on the reader, the record as committed) are in booth.test.ts.
 */
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CardRead } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import { type CheckInput, checkCard } from "../../src/booth/checks.js";
import { LAYOUTS_0019 } from "../../src/booth/record-0019.js";
import { ENTRY_AHEAD_TOLERANCE_MS } from "../../src/lane/card-rules.js";
import { ListPolicy } from "../../src/lane/list-policy.js";
import type { StatusListPolicy } from "../../src/lane/ports.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { Tariff } from "../../src/tariff/tariff.js";
import { full, stationPub, tempDir } from "../status-list/helpers.js";

const CARD_ID = "43012200000000000001";
const OBU_SERIAL = "4301010000000042";
const NOW = Date.UTC(2025, 11, 3, 2, 0, 0);

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir("etc-booth-checks-");
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

/** The lane's policy over the real cache, as the controller builds it; its alarms in order. */
function lanePolicy(p: StatusListPolicy): { policy: ListPolicy; alarms: string[]; at: { now: number } } {
  const alarms: string[] = [];
  const at = { now: 0 };
  const policy = new ListPolicy({
    list: cache,
    policy: p,
    alarmRepeatMs: 60_000,
    now: () => at.now,
    alarm: (code) => alarms.push(code),
    alarmLater: (code) => alarms.push(code),
  });
  policy.onHealth(cache.health());
  return { policy, alarms, at };
}

const boothCase = (obuSerial: string | null): BoothCase => ({
  id: "s1",
  kind: "stop",
  reason: "OBU_NO_CARD",
  openedAt: NOW,
  seq: 1,
  tradeId: "T1",
  obuId: obuSerial ? "A1B2C3D4" : null,
  obuSerial,
  cardId: null,
  plate: "湘A12345",
  plateColor: 0,
  vehicleClass: 1,
  amount: null,
});

const card: CardRead = {
  activation: { uid: Buffer.from("01020304", "hex"), cardType: "cpu-contactless", ats: Buffer.alloc(0) },
  cardId: CARD_ID,
  issuance: {
    issuerId: "B9FEC4CFB9FEC4CF",
    cardType: 0x16,
    cardVersion: 0x40,
    cardNetwork: "4301",
    cardSerial: CARD_ID.slice(4),
    startDate: "20200101",
    expireDate: "20991231",
    plate: "湘A12345",
    userType: 0,
    plateColor: 0,
    vehicleClass: 1,
  },
  file0015: Buffer.alloc(43),
  balance: 10_000,
  layout: LAYOUTS_0019.aa43,
  file0019: Buffer.alloc(43),
  last: null,
};

/** An entry lane (no tariff needed): the checks up to the status list are the point here. */
function check(policy: ListPolicy, c: BoothCase = boothCase(OBU_SERIAL)): ReturnType<typeof checkCard> {
  const input: CheckInput = {
    lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
    utcOffsetMinutes: 480,
    tariff: null,
    lookup: (q) => policy.lookup(q),
    maxTripHours: 0,
    vehicleClass: 1,
    wallNow: NOW,
  };
  return checkCard(c, card, input);
}

describe("the booth's status-list decision is the lane's (one ListPolicy)", () => {
  it("no list loaded under whenMissing 'close': STATUS_LIST_FAILED, never a pass", () => {
    const { policy } = lanePolicy({ whenMissing: "close", whenPastHardAge: "trade" });
    expect(check(policy)).toMatchObject({ ok: false, code: "STATUS_LIST_FAILED" });
  });

  it("no list loaded under 'trade': the case trades unchecked (versions null, STATUS_LIST_MISSING), one NOT_CHECKED alarm per repeat period for both paths", () => {
    const { policy, alarms, at } = lanePolicy({ whenMissing: "trade", whenPastHardAge: "trade" });
    expect(alarms).toEqual(["STATUS_LIST_MISSING"]); // the health, as the controller raises it
    // a DSRC vehicle looked up first: the alarm is the lane's, and the booth's lookups share its rate limit
    expect(policy.lookup({ obuId: "4301010000000099" })).toMatchObject({ checked: false });
    expect(check(policy)).toEqual({
      ok: true,
      price: { amountDue: 0, discountPercent: null, amount: 0 },
      versions: { full: null, delta: null },
      warnings: ["STATUS_LIST_MISSING"],
      unchecked: true,
      write: expect.objectContaining({ status: 0x03 }),
    });
    expect(alarms).toEqual(["STATUS_LIST_MISSING", "STATUS_LIST_NOT_CHECKED"]);
    at.now = 60_000;
    expect(check(policy)).toMatchObject({ ok: true, unchecked: true });
    expect(alarms).toEqual(["STATUS_LIST_MISSING", "STATUS_LIST_NOT_CHECKED", "STATUS_LIST_NOT_CHECKED"]);
  });

  it("a list loaded: checked (its versions, no warning, not unchecked)", async () => {
    await cache.applyBundle(full("202507310000", []));
    const { policy, alarms } = lanePolicy({ whenMissing: "close", whenPastHardAge: "close" });
    expect(check(policy)).toMatchObject({
      ok: true,
      versions: { full: "202507310000" },
      warnings: [],
      unchecked: false,
    });
    expect(alarms).toEqual([]);
  });

  it("a lookup the list cannot answer (its database failed: E516): STATUS_LIST_FAILED naming it", async () => {
    // the card is listed, so the in-memory filter cannot rule it out: the lookup needs the database
    await cache.applyBundle(
      full("202507310000", [{ kind: "card", id: CARD_ID, listType: 1, reason: "test" }]),
    );
    const { policy } = lanePolicy({ whenMissing: "trade", whenPastHardAge: "trade" });
    truncateSync(join(cache.dir, cache.info().db as string), 0);
    expect(check(policy)).toMatchObject({
      ok: false,
      code: "STATUS_LIST_FAILED",
      detail: { lookupCode: "E516_LOOKUP_FAILED" },
    });
  });

  it("a listed card is refused, whatever the policy", async () => {
    await cache.applyBundle(
      full("202507310000", [{ kind: "card", id: CARD_ID, listType: 1, reason: "test" }]),
    );
    const { policy } = lanePolicy({ whenMissing: "trade", whenPastHardAge: "trade" });
    expect(check(policy)).toMatchObject({
      ok: false,
      code: "CARD_ON_STATUS_LIST",
      detail: { statusList: { kind: "card", id: CARD_ID } },
    });
  });

  it("the listed OBU the DSRC attempt read is refused; without an OBU read the card alone decides", async () => {
    await cache.applyBundle(
      full("202507310000", [{ kind: "obu", id: OBU_SERIAL, listType: 1, reason: "test" }]),
    );
    const { policy } = lanePolicy({ whenMissing: "trade", whenPastHardAge: "trade" });
    expect(check(policy)).toMatchObject({
      ok: false,
      code: "OBU_ON_STATUS_LIST",
      detail: { statusList: { kind: "obu", id: OBU_SERIAL } },
    });
    expect(check(policy, boothCase(null))).toMatchObject({ ok: true, unchecked: false });
  });

  it("the card and the OBU are judged in one lookup: one snapshot of the list, whose versions the record names", async () => {
    await cache.applyBundle(full("202507310000", []));
    const { policy } = lanePolicy({ whenMissing: "trade", whenPastHardAge: "trade" });
    const asked: { cardId?: string; obuId?: string }[] = [];
    const r = checkCard(boothCase(OBU_SERIAL), card, {
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      utcOffsetMinutes: 480,
      tariff: null,
      lookup: (q) => {
        asked.push(q);
        return policy.lookup(q);
      },
      maxTripHours: 0,
      vehicleClass: 1,
      wallNow: NOW,
    });
    expect(asked).toEqual([{ cardId: CARD_ID, obuId: OBU_SERIAL }]);
    expect(r).toMatchObject({ ok: true, versions: { full: "202507310000", delta: null } });
  });
});

/** A lookup that finds nothing listed: the checks after the status list are the point below. */
const notListed: CheckInput["lookup"] = () => ({
  listed: false,
  versions: { full: "202507310000", delta: null },
});

describe("the card's dates, judged as the RSU path judges them (src/lane/card-rules.ts)", () => {
  const withDates = (startDate: string, expireDate: string): CardRead => ({
    ...card,
    issuance: { ...card.issuance, startDate, expireDate },
  });
  const entryCheck = (c: CardRead): ReturnType<typeof checkCard> =>
    checkCard(boothCase(null), c, {
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      utcOffsetMinutes: 480,
      tariff: null,
      lookup: notListed,
      maxTripHours: 0,
      vehicleClass: 1,
      wallNow: NOW,
    });

  it("a start or expiry date whose day is 00 or past 31 is CARD_DATA_INVALID, as over DSRC", () => {
    expect(entryCheck(withDates("20200101", "20991200"))).toMatchObject({
      ok: false,
      code: "CARD_DATA_INVALID",
    });
    expect(entryCheck(withDates("20200132", "20991231"))).toMatchObject({
      ok: false,
      code: "CARD_DATA_INVALID",
    });
    expect(entryCheck(withDates("20200101", "20991231"))).toMatchObject({ ok: true });
  });
});

describe("the entry time, judged as the RSU path judges it (src/lane/card-rules.ts)", () => {
  const tariff = Tariff.parse({
    station: "4301-0102",
    version: "T1",
    routes: [{ from: "4301-0101", fees: { "1": 1500 } }],
  });
  const entered = (timeMs: number): CardRead => ({
    ...card,
    last: {
      network: "4301",
      station: "0101",
      lane: 1,
      timeMs,
      vehicleClass: 1,
      status: 0x03,
      plate: "湘A12345",
    },
  });
  const exitCheck = (c: CardRead, maxTripHours: number): ReturnType<typeof checkCard> =>
    checkCard(boothCase(null), c, {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      utcOffsetMinutes: 480,
      tariff,
      lookup: notListed,
      maxTripHours,
      vehicleClass: 1,
      wallNow: NOW,
    });

  it("an entry more than ENTRY_AHEAD_TOLERANCE_MS ahead of the lane's clock is ENTRY_TIME_INVALID, with or without maxTripHours; within it the trip is priced", () => {
    for (const maxTripHours of [0, 48]) {
      expect(exitCheck(entered(NOW + 365 * 86_400_000), maxTripHours)).toMatchObject({
        ok: false,
        code: "ENTRY_TIME_INVALID",
        detail: { entryAheadMs: 365 * 86_400_000 },
      });
      expect(exitCheck(entered(NOW + ENTRY_AHEAD_TOLERANCE_MS + 1000), maxTripHours)).toMatchObject({
        ok: false,
        code: "ENTRY_TIME_INVALID",
      });
      expect(exitCheck(entered(NOW + ENTRY_AHEAD_TOLERANCE_MS), maxTripHours)).toMatchObject({
        ok: true,
        price: { amountDue: 1500, amount: 1425 },
      });
    }
    expect(exitCheck(entered(NOW - 49 * 3_600_000), 48)).toMatchObject({
      ok: false,
      code: "TIMEOUT_VEHICLE",
    });
  });
});
