/** The snapshot's `statusList` (src/service/runtime-snapshot.ts statusListView): the uplink's download and apply. */
import { expect, it } from "vitest";
import { statusListView } from "../../src/service/runtime-snapshot.js";
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
