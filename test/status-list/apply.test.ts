/**
 * Applying bundles (src/status-list/apply.ts, delta-apply.ts, full-build.ts, version-order.ts): deltas,
 * bundles as bytes or paths, the version order, and every rejection leaving the list exactly as it was.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  decodeHeader,
  encodeHeader,
  HEADER_LEN,
  OP_ADD,
  PREFIX_LEN,
  publicKeyIdFromPrivate,
  RECORD_LEN,
  sha256,
  signHeader,
  writeRecord,
} from "../../src/status-list/bundle.js";
import { importAppliedMessage } from "../../src/status-list/import-message.js";
import { StatusListCache, StatusListErrors } from "../../src/status-list/index.js";
import {
  card,
  delta,
  full,
  obu,
  otherKeyPair,
  sampleRows,
  snapshot,
  stationKey,
  stationPub,
  tempDir,
} from "./helpers.js";

const V1 = "202507300000";
const V2 = "202507310000";
const D1 = "202507310005";
const D2 = "202507310010";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir();
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

describe("StatusListCache: bundles as bytes and as files", () => {
  it("a path that names no bundle file (missing, a directory) is E511 naming it, never a raw fs error; nothing applied", async () => {
    for (const path of [join(tmp.dir, "nosuch.bundle"), tmp.dir])
      await expect(cache.applyBundle(path)).rejects.toMatchObject({
        code: StatusListErrors.Store,
        message: expect.stringMatching(new RegExp(`^cannot read status-list bundle ${path}: E(NOENT|ISDIR)`)),
      });
    expect(cache.versions()).toEqual({ full: null, delta: null });
  });

  it("takes large bundles given as bytes through a file (no copy on the lane thread), and removes it", async () => {
    const big = full(V2, sampleRows(20_000));
    expect(big.length).toBeGreaterThan(256 * 1024);
    const r = await cache.applyBundle(big);
    expect(r).toMatchObject({ kind: "full", cards: 20_000, obus: 10_000 });
    expect(cache.lookup({ cardId: card(19_999) }).listed).toBe(true);
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      kind: "card" as const,
      id: card(100_000 + i, 4401),
      listType: 1,
      reason: "d",
    }));
    await cache.applyBundle(delta(D1, V2, rows));
    expect(cache.lookup({ cardId: card(119_999, 4401) }).listed).toBe(true);
    // a refused one is removed too
    await expect(cache.applyBundle(delta(D1, V2, rows))).rejects.toThrow(/not newer/);
    expect(readdirSync(join(tmp.dir, "status-list")).filter((f) => f.startsWith("incoming-"))).toEqual([]);
  });

  it("accepts a bundle by file path", async () => {
    const p = join(tmp.dir, "full.bin");
    writeFileSync(p, full(V2, sampleRows(10)));
    await expect(cache.applyBundle(p)).resolves.toMatchObject({ version: V2 });
  });
});

describe("StatusListCache: deltas", () => {
  beforeEach(async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
  });

  it("adds, re-reasons and removes entries; a removed entry is unlisted", async () => {
    const r = await cache.applyBundle(
      delta(D1, V2, [
        { kind: "card", id: card(4), listType: 1, reason: "", op: "remove" },
        { kind: "card", id: card(500), listType: 1, reason: "新增挂失" },
        { kind: "obu", id: obu(0xa000_0002), listType: 1, reason: "改判", op: "add" },
        { kind: "obu", id: obu(0xbeef), listType: 2, reason: "追缴" },
      ]),
    );
    expect(r).toMatchObject({
      kind: "delta",
      version: D1,
      base: V2,
      adds: 3,
      removes: 1,
      cards: 100,
      obus: 51,
    });
    expect(cache.lookup({ cardId: card(4) })).toMatchObject({
      listed: false,
      versions: { full: V2, delta: D1 },
    });
    expect(cache.lookup({ cardId: card(500) }).entry?.reason).toBe("新增挂失");
    expect(cache.lookup({ obuId: obu(0xa000_0002) }).entry?.reason).toBe("改判");
    expect(cache.lookup({ obuId: obu(0xbeef) }).entry?.listTypeName).toBe("arrears");
    // removing only one of two lists keeps the other
    await cache.applyBundle(
      delta(D2, D1, [{ kind: "card", id: card(500), listType: 2, reason: "", op: "remove" }]),
    );
    expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
    expect(cache.info().recentDeltas.map((d) => d.version)).toEqual([D2, D1]);
  });

  it("ignores a remove's reason index, whatever it holds (docs/status-list.md section 2)", async () => {
    // a delta that lists a new card and removes card(3), the remove's reason field 0xFFFF with one
    // reason in the table: before, the whole delta was refused E502 and the chain stuck on it
    const d = withReasonField(
      delta(D1, V2, [
        { kind: "card", id: card(9_000_001), listType: 1, reason: "挂失" },
        { kind: "card", id: card(3), listType: 2, reason: "挂失", op: "remove" },
      ]),
      1,
      0xffff,
    );
    expect(cache.lookup({ cardId: card(3) }).listed).toBe(true);
    await expect(cache.applyBundle(d)).resolves.toMatchObject({ version: D1, adds: 1, removes: 1 });
    expect(cache.lookup({ cardId: card(3) }).listed).toBe(false);
    expect(cache.lookup({ cardId: card(9_000_001) }).entry?.reason).toBe("挂失");
  });

  it("refuses an add whose reason index is outside the reason table, naming it", async () => {
    const d = withReasonField(
      delta(D1, V2, [{ kind: "card", id: card(9_000_001), listType: 1, reason: "挂失" }]),
      0,
      1,
    );
    await expect(cache.applyBundle(d)).rejects.toMatchObject({
      code: StatusListErrors.Malformed,
      message: expect.stringMatching(/reason index 1 outside the 1-entry reason table/),
    });
    expect(cache.versions()).toEqual({ full: V2, delta: null });
  });
});

describe("StatusListCache: a reason table that overruns the body", () => {
  it("is named as the reason it ends in, not as a record", async () => {
    // one reason whose length field says 20 bytes, then one record: the body (18 bytes) ends inside
    // reason 0, 16 bytes into it; signed, with the digest of this short body
    const body = Buffer.alloc(2 + RECORD_LEN);
    body.writeUInt16BE(20, 0);
    const header = encodeHeader({
      kind: "full",
      version: V2,
      base: null,
      createdAt: Date.now(),
      recordCount: 1,
      reasonCount: 1,
      bodyLength: body.length,
      digest: sha256().update(body).digest(),
      keyId: publicKeyIdFromPrivate(stationKey),
    });
    const b = Buffer.concat([header, signHeader(header, stationKey), body]);
    await expect(cache.applyBundle(b)).rejects.toMatchObject({
      code: StatusListErrors.Malformed,
      message: expect.stringMatching(/body ends inside reason 0 \(its length says 20 bytes\)/),
    });
    expect(cache.versions()).toEqual({ full: null, delta: null });
  });
});

describe("StatusListCache: a reason longer than 255 bytes (docs/status-list.md section 2)", () => {
  /**
   * A signed bundle with one reason of `bytes` bytes ("x" each) and one add of card(1) with that reason,
   * written by hand: encodeReasons refuses a reason past 255 bytes.
   */
  function oneReason(bytes: number, kind: "full" | "delta", version: string, base: string | null): Buffer {
    const body = Buffer.alloc(2 + bytes + RECORD_LEN, "x");
    body.writeUInt16BE(bytes, 0);
    writeRecord(body, 2 + bytes, {
      kind: 1,
      op: OP_ADD,
      listType: 1,
      net: 3201,
      reason: 0,
      hi32: 0,
      lo32: 1,
    });
    const header = encodeHeader({
      kind,
      version,
      base,
      createdAt: Date.now(),
      recordCount: 1,
      reasonCount: 1,
      bodyLength: body.length,
      digest: sha256().update(body).digest(),
      keyId: publicKeyIdFromPrivate(stationKey),
    });
    return Buffer.concat([header, signHeader(header, stationKey), body]);
  }

  it("refuses a full list with one, naming the reason, and takes one of 255", async () => {
    await expect(cache.applyBundle(oneReason(256, "full", V1, null))).rejects.toMatchObject({
      code: StatusListErrors.Malformed,
      message: expect.stringMatching(/reason 0 is 256 bytes, at most 255/),
    });
    expect(cache.versions()).toEqual({ full: null, delta: null });
    await cache.applyBundle(oneReason(255, "full", V1, null));
    expect(cache.lookup({ cardId: card(1) }).entry?.reason).toBe("x".repeat(255));
  });

  it("refuses a delta with one, the list left as it was", async () => {
    await cache.applyBundle(full(V2, sampleRows(10)));
    const before = snapshot(cache, [{ cardId: card(1) }]);
    await expect(cache.applyBundle(oneReason(256, "delta", D1, V2))).rejects.toMatchObject({
      code: StatusListErrors.Malformed,
      message: expect.stringMatching(/reason 0 is 256 bytes, at most 255/),
    });
    expect(snapshot(cache, [{ cardId: card(1) }])).toEqual(before);
  });
});

/** `b` with record `i`'s reason field set to `reason`, its digest and signature made again. */
function withReasonField(b: Buffer, i: number, reason: number): Buffer {
  const c = Buffer.from(b);
  const h = decodeHeader(c, c.length);
  const records = PREFIX_LEN + h.bodyLength - h.recordCount * RECORD_LEN;
  c.writeUInt16BE(reason, records + i * RECORD_LEN + 6);
  const header = encodeHeader({ ...h, digest: sha256().update(c.subarray(PREFIX_LEN)).digest() });
  header.copy(c, 0);
  signHeader(header, stationKey).copy(c, HEADER_LEN);
  return c;
}

describe("StatusListCache: OBU ids with a digit A-F (no lane matches them; docs/status-list.md section 2)", () => {
  // serial 3201230100004567 written as the integer it is, as for a card: the mistake section 2 describes
  const asInteger = "000B5F8076F47ED7";
  const decimal = "3201230100004567";

  it("counts them in the apply result and in info(), as the list gains and loses them", async () => {
    const r = await cache.applyBundle(
      full(V2, [
        { kind: "card", id: card(1), listType: 1, reason: "r" },
        { kind: "obu", id: decimal, listType: 1, reason: "r" },
        { kind: "obu", id: asInteger, listType: 1, reason: "r" },
        { kind: "obu", id: asInteger, listType: 2, reason: "r" },
      ]),
    );
    expect(r).toMatchObject({ kind: "full", obus: 3, obusNotDecimal: 2 });
    expect(cache.info().obusNotDecimal).toBe(2);
    // the operator's import says so on its line
    expect(importAppliedMessage(r)).toBe(
      `status-list full ${V2} applied (4 added, 0 removed); 2 OBU entries have ids with a digit A-F, which ` +
        "no lane matches (an OBU id is its contract serial's 16 BCD digits; a station that writes serials as " +
        "integers makes them): those OBUs pass",
    );
    // a delta: one more added (and one re-added, already listed), one removed, a decimal one added
    const d = await cache.applyBundle(
      delta(D1, V2, [
        { kind: "obu", id: "00000000000000FF", listType: 1, reason: "r" },
        { kind: "obu", id: asInteger, listType: 1, reason: "again" },
        { kind: "obu", id: asInteger, listType: 2, reason: "", op: "remove" },
        { kind: "obu", id: "3201230100004568", listType: 1, reason: "r" },
      ]),
    );
    expect(d).toMatchObject({ kind: "delta", adds: 3, removes: 1, obus: 4, obusNotDecimal: 2 });
    expect(cache.info().obusNotDecimal).toBe(2); // 00..FF and one list type of asInteger
    const none = await cache.applyBundle(
      delta(D2, D1, [{ kind: "obu", id: "3201230100004569", listType: 1, reason: "r" }]),
    );
    expect(none.obusNotDecimal).toBe(0);
    expect(cache.info().obusNotDecimal).toBe(2);
  });

  it("a list stored before the count was kept says null (not counted), and its deltas leave it so", async () => {
    await cache.applyBundle(full(V2, [{ kind: "obu", id: asInteger, listType: 1, reason: "r" }]));
    const path = join(cache.dir, cache.info().db as string);
    await cache.close();
    const old = new Database(path);
    old.exec("ALTER TABLE meta DROP COLUMN obus_not_decimal");
    old.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.info().obusNotDecimal).toBeNull();
    const d = await cache.applyBundle(
      delta(D1, V2, [{ kind: "obu", id: "00000000000000FF", listType: 1, reason: "r" }]),
    );
    expect(d.obusNotDecimal).toBe(1);
    expect(cache.info().obusNotDecimal).toBeNull();
  });
});

describe("StatusListCache: card entries of network 0000 (they match no card; docs/status-list.md section 2)", () => {
  // a station listing cards by their 16-digit serial alone, the network left 0000: no 0015 carries it
  const serialOnly = "00001234567890123456";
  const serialOnly2 = "00000000000000000002";
  const noteOf = (n: number): string =>
    `the list has ${n} card entries of network 0000, which match no card: the cards they mean pass`;

  it("a full list with them is applied, its valid entries served; counted with an example, in info(), health and the import line", async () => {
    const r = await cache.applyBundle(
      full(V2, [
        ...[1, 2, 3, 4].map((i) => ({ kind: "card" as const, id: card(i), listType: 1, reason: "r" })),
        { kind: "card", id: serialOnly, listType: 1, reason: "x" },
        { kind: "card", id: serialOnly2, listType: 2, reason: "x" },
      ]),
    );
    // the records are in key order: network 0000 first, serialOnly2 the lower serial
    expect(r).toMatchObject({
      kind: "full",
      version: V2,
      cards: 6,
      cardsNoNetwork: 2,
      cardNoNetworkExample: serialOnly2,
    });
    expect(cache.lookup({ cardId: card(3) }).listed).toBe(true);
    expect(cache.info().cardsNoNetwork).toBe(2);
    const h = cache.health();
    expect(h).toMatchObject({ state: "ok", cardsNoNetwork: 2 });
    expect(h.reason).toMatch(new RegExp(`^full list ${V2}, newest update .* old; ${noteOf(2)}$`));
    expect(importAppliedMessage(r)).toBe(
      `status-list full ${V2} applied (6 added, 0 removed); 2 card entries have network 0000 ` +
        `(${serialOnly2}, ...), which no card carries (a card id is its 0015 network, 4 digits, then its ` +
        "16-digit serial; a station that lists cards by their serial alone makes them): they match no card, " +
        "and those cards pass",
    );
    // kept with the list: a reopened cache says the same
    await cache.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.info().cardsNoNetwork).toBe(2);
    expect(cache.health()).toMatchObject({ state: "ok", cardsNoNetwork: 2 });
  });

  it("a delta with them is applied, its new valid entries listed (the chain goes on); the list's count follows adds and removes", async () => {
    await cache.applyBundle(full(V2, sampleRows(4, 3)));
    expect(cache.health().cardsNoNetwork).toBe(0);
    expect(cache.health().reason).not.toMatch(/network 0000/);
    const d = await cache.applyBundle(
      delta(D1, V2, [
        { kind: "card", id: card(500), listType: 1, reason: "新增挂失" },
        { kind: "card", id: serialOnly, listType: 1, reason: "x" },
        { kind: "card", id: serialOnly2, listType: 1, reason: "x" },
      ]),
    );
    expect(d).toMatchObject({ kind: "delta", adds: 3, cardsNoNetwork: 2, cardNoNetworkExample: serialOnly });
    expect(cache.lookup({ cardId: card(500) }).entry?.reason).toBe("新增挂失");
    expect(cache.info().cardsNoNetwork).toBe(2);
    expect(cache.health().reason).toContain(noteOf(2));
    // the next delta chains on it: one removed (a remove of network 0000 is taken too), one re-added
    const d2 = await cache.applyBundle(
      delta(D2, D1, [
        { kind: "card", id: serialOnly2, listType: 1, reason: "", op: "remove" },
        { kind: "card", id: serialOnly, listType: 1, reason: "again" },
      ]),
    );
    expect(d2).toMatchObject({ adds: 1, removes: 1, cardsNoNetwork: 1, cardNoNetworkExample: serialOnly });
    expect(cache.versions()).toEqual({ full: V2, delta: D2 });
    expect(cache.info().cardsNoNetwork).toBe(1);
    expect(cache.health()).toMatchObject({ cardsNoNetwork: 1 });
    expect(cache.health().reason).toMatch(
      /; the list has 1 card entry of network 0000, which matches no card: the card it means passes$/,
    );
    const none = await cache.applyBundle(
      delta("202507310015", D2, [{ kind: "card", id: serialOnly, listType: 1, reason: "", op: "remove" }]),
    );
    expect(none).toMatchObject({ cardsNoNetwork: 0, cardNoNetworkExample: null });
    expect(cache.info().cardsNoNetwork).toBe(0);
    expect(cache.health().reason).not.toMatch(/network 0000/);
  });

  it("a list stored before the count was kept says null (not counted), and its deltas leave it so", async () => {
    await cache.applyBundle(full(V2, [{ kind: "card", id: serialOnly, listType: 1, reason: "r" }]));
    const path = join(cache.dir, cache.info().db as string);
    await cache.close();
    const old = new Database(path);
    old.exec("ALTER TABLE meta DROP COLUMN cards_no_network");
    old.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.info().cardsNoNetwork).toBeNull();
    expect(cache.health().cardsNoNetwork).toBeNull();
    const d = await cache.applyBundle(
      delta(D1, V2, [{ kind: "card", id: serialOnly2, listType: 1, reason: "r" }]),
    );
    expect(d).toMatchObject({ cardsNoNetwork: 1, cardNoNetworkExample: serialOnly2 });
    expect(cache.info().cardsNoNetwork).toBeNull();
    expect(cache.health().cardsNoNetwork).toBeNull();
  });
});

describe("StatusListCache: every rejection leaves the active list exactly as it was", () => {
  const probes = [
    { cardId: card(1) },
    { cardId: card(2) },
    { cardId: card(500) },
    { obuId: obu(0xa000_0003) },
    { obuId: obu(0xbeef) },
  ];
  const addRows = [
    { kind: "card" as const, id: card(500), listType: 1, reason: "add" },
    { kind: "card" as const, id: card(1), listType: 2, reason: "", op: "remove" as const },
  ];

  beforeEach(async () => {
    await cache.applyBundle(full(V2, sampleRows(40)));
    await cache.applyBundle(delta(D1, V2, [{ kind: "obu", id: obu(0xbeef), listType: 1, reason: "x" }]));
  });

  const flip = (b: Buffer, at: (b: Buffer) => number): Buffer => {
    const c = Buffer.from(b);
    const i = at(c);
    c[i] = (c[i] as number) ^ 0x40;
    return c;
  };

  /** The header names another key id, and the lane's key signs it so: the signature verifies. */
  const otherKeyIdSigned = (b: Buffer): Buffer => {
    const c = Buffer.from(b);
    c.fill(0xee, 92, 100);
    signHeader(c.subarray(0, HEADER_LEN), stationKey).copy(c, HEADER_LEN);
    return c;
  };

  const cases: [string, () => Buffer, string, RegExp][] = [
    [
      "a truncated full list",
      () => full("202508010000", sampleRows(40, 3)).subarray(0, 700),
      StatusListErrors.Truncated,
      /truncated/,
    ],
    [
      "a truncated delta",
      () => {
        const d = delta(D2, D1, addRows);
        return d.subarray(0, d.length - 1);
      },
      StatusListErrors.Truncated,
      /truncated/,
    ],
    [
      "a tampered body byte (full)",
      () => flip(full("202508010000", sampleRows(40, 3)), (b) => b.length - 5),
      StatusListErrors.Digest,
      /digest/,
    ],
    [
      "a tampered body byte (delta)",
      () => flip(delta(D2, D1, addRows), (b) => b.length - 3),
      StatusListErrors.Digest,
      /digest/,
    ],
    [
      "a tampered header byte",
      () => flip(delta(D2, D1, addRows), () => 40),
      StatusListErrors.BadSignature,
      /does not verify/,
    ],
    [
      "a tampered signature byte",
      () => flip(full("202508010000", sampleRows(4, 3)), () => 150),
      StatusListErrors.BadSignature,
      /does not verify/,
    ],
    [
      "an unsigned full list",
      () => full("202508010000", sampleRows(4, 3), { key: null }),
      StatusListErrors.Unsigned,
      /unsigned/,
    ],
    ["an unsigned delta", () => delta(D2, D1, addRows, { key: null }), StatusListErrors.Unsigned, /unsigned/],
    [
      "a full list signed by another key",
      () => full("202508010000", sampleRows(4, 3), { key: otherKeyPair().privateKeyPem }),
      StatusListErrors.BadSignature,
      /not by the station key/,
    ],
    [
      "a full list the lane's key signed naming another key id",
      () => otherKeyIdSigned(full("202508010000", sampleRows(4, 3))),
      StatusListErrors.BadSignature,
      /names key eeeeeeeeeeeeeeee in its header, but was signed by the station key this lane trusts \([0-9a-f]{16}\)/,
    ],
    [
      "a delta the lane's key signed naming another key id",
      () => otherKeyIdSigned(delta(D2, D1, addRows)),
      StatusListErrors.BadSignature,
      /names key eeeeeeeeeeeeeeee in its header/,
    ],
    [
      "a delta signed by another key",
      () => delta(D2, D1, addRows, { key: otherKeyPair().privateKeyPem }),
      StatusListErrors.BadSignature,
      /not by the station key/,
    ],
    [
      "an older full list",
      () => full(V1, sampleRows(4, 3)),
      StatusListErrors.NotNewer,
      /not newer than the version the lane holds \(delta 202507310005 on full 202507310000\)/,
    ],
    ["the same full list again", () => full(V2, sampleRows(4, 3)), StatusListErrors.NotNewer, /not newer/],
    [
      "a replayed delta",
      () => delta(D1, V2, addRows),
      StatusListErrors.NotNewer,
      /not newer than the version the lane holds \(202507310005\)/,
    ],
    [
      "a delta that does not chain",
      () => delta("202507310015", D2, addRows),
      StatusListErrors.NotChaining,
      /applies on 202507310010, but the lane holds 202507310005/,
    ],
  ];
  // records out of order in a signed list: its own test below (it needs the bundle re-signed)

  for (const [what, make, code, message] of cases) {
    it(`rejects ${what}`, async () => {
      const before = snapshot(cache, probes);
      const err = await cache.applyBundle(make()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(message);
      expect(snapshot(cache, probes)).toEqual(before);
      // and the rejected bundle changed nothing on disk either: a reopened cache sees the same list
      await cache.close();
      cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
      expect(snapshot(cache, probes)).toEqual(before);
    });
  }

  it("refuses an older full list over a newer delta (versions only move forward across fulls and deltas)", async () => {
    // the lane holds full V2 + delta D1 (202507310005), which listed OBU beef. A full list issued between
    // the two (202507310003) would roll that back: the applied state is D1, and 0003 < 0005.
    const before = snapshot(cache, probes);
    expect(cache.lookup({ obuId: obu(0xbeef) }).listed).toBe(true);
    const err = await cache.applyBundle(full("202507310003", sampleRows(40, 3))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: StatusListErrors.NotNewer });
    expect((err as Error).message).toMatch(
      /full list 202507310003 is not newer than the version the lane holds \(delta 202507310005 on full 202507310000\)$/,
    );
    expect(snapshot(cache, probes)).toEqual(before);
    // a full list at exactly the delta's version does not move forward either
    await expect(cache.applyBundle(full(D1, sampleRows(40, 3)))).rejects.toMatchObject({
      code: StatusListErrors.NotNewer,
    });
    // one past it does, and the next delta chains on it
    await cache.applyBundle(full("202507310006", sampleRows(40, 3)));
    expect(cache.versions()).toEqual({ full: "202507310006", delta: null });
  });

  it("rejects a delta when no full list is active", async () => {
    const t2 = tempDir();
    const empty = await StatusListCache.open({ dataDir: t2.dir, publicKeyPem: stationPub });
    try {
      await expect(empty.applyBundle(delta(D1, V2, addRows))).rejects.toMatchObject({
        code: StatusListErrors.NoFullList,
      });
      expect(empty.versions()).toEqual({ full: null, delta: null });
    } finally {
      await empty.close();
      t2.cleanup();
    }
  });

  it("rejects a signed full list whose records are out of order, naming the record", async () => {
    const { buildBundle } = await import("../../sim/status-list/index.js");
    const { stationKey } = await import("./helpers.js");
    const { PREFIX_LEN, RECORD_LEN, HEADER_LEN, encodeHeader, decodeHeader, sha256, signHeader } =
      await import("../../src/status-list/bundle.js");
    const b = buildBundle({
      kind: "full",
      version: "202508010000",
      rows: [1, 2, 3].map((n) => ({ kind: "card" as const, id: card(n), listType: 1, reason: "x" })),
      privateKeyPem: stationKey,
    });
    const first = PREFIX_LEN + 3; // reason table: one 1-byte reason
    const r0 = Buffer.from(b.subarray(first, first + RECORD_LEN));
    b.copy(b, first, first + RECORD_LEN, first + 2 * RECORD_LEN);
    r0.copy(b, first + RECORD_LEN);
    const h = decodeHeader(b, b.length);
    const header = encodeHeader({ ...h, digest: sha256().update(b.subarray(PREFIX_LEN)).digest() });
    header.copy(b, 0);
    signHeader(header, stationKey).copy(b, HEADER_LEN);
    const before = snapshot(cache, probes);
    await expect(cache.applyBundle(b)).rejects.toThrow(/record 1: not in strictly increasing key order/);
    expect(snapshot(cache, probes)).toEqual(before);
  });

  it("serialises concurrent applies: a good delta after a rejected one still chains", async () => {
    const bad = delta(D2, D1, addRows, { key: null });
    const good = delta(D2, D1, addRows);
    const [r1, r2] = await Promise.allSettled([cache.applyBundle(bad), cache.applyBundle(good)]);
    expect(r1.status).toBe("rejected");
    expect(r2.status).toBe("fulfilled");
    expect(cache.versions()).toEqual({ full: V2, delta: D2 });
    expect(cache.lookup({ cardId: card(1) }).listed).toBe(false);
  });
});
