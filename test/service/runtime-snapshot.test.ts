/**
 * The snapshot's `statusList` (src/service/runtime-snapshot.ts statusListView): the uplink's download and
 * apply; its `state` (tradingState): its `since` while the journal's failure overrides the controller's.
 */
import { expect, it } from "vitest";
import type { JournalHealth } from "../../src/journal/db.js";
import { statusListView, tradingState } from "../../src/service/runtime-snapshot.js";
import type { UplinkStatus } from "../../src/uplink/uplink.js";

const health = {
  state: "ok",
  reason: "current",
  versions: { full: "202611260000", delta: null },
  ages: { fullMs: 60_000, newestMs: 60_000 },
  cardsNoNetwork: 0,
} as unknown as Parameters<typeof statusListView>[0];
const info = { counts: { cards: 20, obus: 10 }, appliedAt: 1 };
const uplink = (statusList: Partial<NonNullable<UplinkStatus["statusList"]>>) =>
  ({
    statusList: {
      full: "202611260000",
      delta: null,
      confirmedAt: null,
      lastPollAt: null,
      bundlesApplied: 0,
      download: null,
      applying: null,
      lastError: null,
      ...statusList,
    },
  }) as unknown as UplinkStatus;

it("names the bundle the uplink's list is applying, and the one it is downloading, each null when none", () => {
  const name = "full-202611270000.bundle";
  expect(statusListView(health, info, uplink({ applying: name }))).toMatchObject({
    applying: name,
    download: null,
  });
  const download = { name, pages: 480, pagesDone: 120 };
  expect(statusListView(health, info, uplink({ download }))).toMatchObject({ applying: null, download });
  expect(statusListView(health, info, null)).toMatchObject({ applying: null, download: null });
});

// review: while a journal failure overrides the controller's open state (its close not landed yet), `since`
// was when the lane opened: "closed for hours"
it("the state closed for the journal is so since the journal failed, not since the controller's state began", () => {
  const open = { status: "open", rsu: { rsuId: 1, version: 2 } } as unknown as Parameters<
    typeof tradingState
  >[0];
  const openedAt = Date.parse("2026-12-06T08:00:00.000Z");
  const now = Date.parse("2026-12-06T11:00:05.000Z");
  const failed: JournalHealth = {
    healthy: false,
    error: {
      code: "E601_JOURNAL_WRITE",
      message: "disk I/O error",
      at: "2026-12-06T11:00:00.000Z",
      op: "read",
    },
  };
  expect(tradingState(open, failed, openedAt, now)).toMatchObject({
    status: "closed",
    canTrade: false,
    reason: "journal",
    since: Date.parse("2026-12-06T11:00:00.000Z"),
  });
  // no error's time to go by: now
  expect(tradingState(open, { healthy: false }, openedAt, now).since).toBe(now);
  // a healthy journal: the controller's state and its since
  expect(tradingState(open, { healthy: true }, openedAt, now)).toMatchObject({
    status: "open",
    canTrade: true,
    since: openedAt,
  });
  // a lane already closed (for the journal or anything else) keeps its own since
  const closed = { status: "closed", reason: "journal", detail: "journal failed" } as unknown as Parameters<
    typeof tradingState
  >[0];
  expect(tradingState(closed, failed, openedAt + 1, now)).toMatchObject({
    reason: "journal",
    since: openedAt + 1,
  });
});
