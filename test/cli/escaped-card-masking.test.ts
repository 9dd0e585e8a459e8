/**
 * Card numbers are masked before a value is escaped (src/service/format.ts maskCardIdsIn): JSON writes a
 * newline as `\n`, a table as `\x0a`, and a number right after it no longer stands alone for maskCardIds.
 * Session 30 review: a settle reason or a station's error holding "\n" + a card number was printed in full
 * by `transactions list --json`, `audit tail|search --json`, `audit export --format json|csv` and `status`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/commands/status.js";
import { jsonRecordLine } from "../../src/cli/commands/transactions.js";
import type { StoredRecord } from "../../src/journal/types.js";
import { maskCardIdsIn } from "../../src/service/format.js";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { FakeLane } from "../service/fake-lane.js";

const CARD = "43010000000000009001";
const MASKED = "4301************9001";
const ESC = "\u001b";

/** A stored record of lane 4301-0102-03 (revision 1, not uploaded, not held unless `over` says so). */
const storedRecord = (seq: number, over: Partial<StoredRecord>): StoredRecord => ({
  ...sampleRecord(seq),
  seq,
  tradeId: `4301010203202611260800000000${String(seq).padStart(2, "0")}`,
  createdAt: "2026-11-26T08:00:00.000+08:00",
  lane: { network: "4301", station: "0102", lane: 3 },
  revision: 1,
  uploadedAt: null,
  held: null,
  ...over,
});

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe("maskCardIdsIn", () => {
  it("masks every string of a value, keys too, through objects and arrays, and leaves the rest", () => {
    expect(maskCardIdsIn({ a: [`x\n${CARD}`, 1, null, true], [CARD]: { b: `\t${CARD}` } })).toEqual({
      a: [`x\n${MASKED}`, 1, null, true],
      [MASKED]: { b: `\t${MASKED}` },
    });
    // two keys that mask alike both stay, the second numbered
    const other = `${CARD.slice(0, 4)}9${CARD.slice(5)}`;
    expect(other).not.toBe(CARD);
    expect(maskCardIdsIn({ [CARD]: 1, [other]: 2 })).toEqual({ [MASKED]: 1, [`${MASKED} #2`]: 2 });
    // keys an object has by its prototype are no collision; "__proto__" stays an own key
    expect(maskCardIdsIn({ constructor: 1, toString: 2 })).toEqual({ constructor: 1, toString: 2 });
    expect(Object.keys(maskCardIdsIn(JSON.parse('{"__proto__":1}')) as object)).toEqual(["__proto__"]);
    // as JSON.stringify would write it: toJSON first
    expect(maskCardIdsIn({ at: new Date(0), s: { toJSON: () => `${ESC}${CARD}` } })).toEqual({
      at: "1970-01-01T00:00:00.000Z",
      s: `${ESC}${MASKED}`,
    });
  });
});

describe("a card number right after a newline, tab or ESC is masked", () => {
  it("in transactions list --json (a settle reason), and in full with --full-ids", () => {
    const r = storedRecord(5, {
      revision: 2,
      extra: { settlement: { evidence: { reason: `bank ticket 4711:\n${CARD}\t${CARD} not debited` } } },
    });
    const line = jsonRecordLine(r, false);
    expect(line).not.toContain(CARD);
    expect(JSON.parse(line).extra.settlement.evidence.reason).toBe(
      `bank ticket 4711:\n${MASKED}\t${MASKED} not debited`,
    );
    expect(JSON.parse(jsonRecordLine(r, true)).extra.settlement.evidence.reason).toContain(`\n${CARD}`);
  });

  it.each([
    [["audit", "tail", "--json"]],
    [["audit", "search", "--json", "--kind", "lane.notice"]],
    // the table: its REASON column (an event's data.reason) was not masked at all
    [["audit", "search", "--kind", "lane.notice"]],
    [["audit", "export", "--format", "json", "--kind", "lane.notice"]],
    [["audit", "export", "--format", "csv", "--kind", "lane.notice"]],
  ])("in %j (a trail entry's message and data)", async (command) => {
    const t = tempDir("etc-cli-escaped-mask-");
    cleanup = t.cleanup;
    const trail = openTrail(t.dir);
    trail.append({
      type: "lane.notice",
      severity: "info",
      message: `refused:\n${CARD}`,
      data: { reason: `ticket:\n${CARD}`, raw: `${ESC}${CARD}` },
    });
    await trail.close();
    const r = await runEtcLane([...command, "--data-dir", t.dir]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("lane.notice");
    expect(r.out).not.toContain(CARD);
    expect(r.out).toContain(MASKED);
    const full = await runEtcLane([...command, "--data-dir", t.dir, "--full-ids"]);
    expect(full.out).toContain(CARD);
  });

  it("in etc-lane status (the uplink's last error, a booth case's detail)", () => {
    const lane = new FakeLane();
    const s = lane.snapshot();
    const c = s.booth.cases[0]!;
    const snapshot = {
      ...s,
      uplink: { ...s.uplink, lastError: { code: "E_STATION_4XX", message: `refused:\n${CARD}`, at: s.at } },
      booth: { ...s.booth, cases: [{ ...c, detail: `卡\t${CARD}` }] },
    };
    const text = formatStatus(snapshot);
    expect(text).not.toContain(CARD);
    expect(text).toContain(`refused:\\x0a${MASKED}`);
    expect(text).toContain(`卡\\x09${MASKED}`);
    expect(formatStatus(snapshot, { fullIds: true })).toContain(`refused:\\x0a${CARD}`);
  });

  // round-2 review, finding 1: the station's error body is JSON, kept as the lane got it, so its line break
  // is already the two characters \ and n when it reaches an output
  it("already escaped in the text (a station's JSON error body): status, status --json, transactions list --json", () => {
    const body = JSON.stringify({ error: "BAD_REQUEST", message: `card blocked:\n${CARD}` });
    const message = `station upload: HTTP 400 ${body}`;
    expect(message).toContain(`\\n${CARD}`);
    const lane = new FakeLane();
    const s = lane.snapshot();
    const snapshot = {
      ...s,
      uplink: { ...s.uplink, lastError: { code: "E_STATION_4XX", message, at: s.at } },
    };
    expect(formatStatus(snapshot)).not.toContain(CARD);
    expect(JSON.stringify(maskCardIdsIn(snapshot))).not.toContain(CARD);
    const r = storedRecord(6, {
      held: { code: "E_STATION_4XX", message, at: "2026-11-26T08:00:01.000+08:00" },
    });
    const line = jsonRecordLine(r, false);
    expect(line).not.toContain(CARD);
    expect(JSON.parse(line).held.message).toContain(`\\n${MASKED}`);
    // an escape's letters and digits still count as a boundary only right before the number: a longer id
    // after one stays as it is
    expect(maskCardIdsIn(`\\n${CARD}12`)).toBe(`\\n${CARD}12`);
    expect(maskCardIdsIn(`\\x0a${CARD}`)).toBe(`\\x0a${MASKED}`);
    expect(maskCardIdsIn(`\\u000a${CARD}`)).toBe(`\\u000a${MASKED}`);
  });
});
