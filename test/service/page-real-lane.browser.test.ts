import type { Browser, Page } from "playwright-core";
import { expect, it } from "vitest";
import { maskCardId } from "../../src/service/format.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { laneTest, servedLaneConfig } from "../integration/harness.js";
import { describeWithChromium, launchChromium } from "./chromium.js";

const vehicles = [
  { id: "a", plate: "湘C00001", class: 1, balance: 20_000, entryStation: "0101" },
  { id: "b", plate: "湘C00002", class: 1, balance: 20_000, entryStation: "0101" },
  { id: "low", plate: "湘C00003", class: 1, balance: 1, entryStation: "0101" },
  { id: "c", plate: "湘C00004", class: 1, balance: 20_000, entryStation: "0101" },
];

describeWithChromium("maintenance page over a real lane in headless Chromium", () => {
  it("the live feed grows as simulated vehicles pass; a card search returns that card's records", async () => {
    let served: ServedLane | null = null;
    let browser: Browser | null = null;
    let page: Page | null = null;
    try {
      await laneTest(
        {
          protocol: "legacy",
          scenario: { defaults: { zoneMs: 2500 }, traffic: { gapMs: 300, vehicles } },
          beforeStart: async (lane) => {
            const config = servedLaneConfig(lane);
            served = await serveLane(lane, config, { processMetrics: false });
            browser = await launchChromium();
            page = await browser.newPage();
            const res = await page.goto(served.service.url);
            expect(res?.status()).toBe(200);
            await page.waitForSelector("#live.ok"); // the feed is connected before any vehicle
            expect(await page.locator("#feed tr").count()).toBe(0);
          },
        },
        async (t) => {
          const p = page as unknown as Page;
          await t.settle();
          const records = t.records();
          expect(records.map((r) => `${r.plate} ${r.kind}:${r.outcome}`)).toEqual([
            "湘C00001 transaction:EXIT_DEBIT",
            "湘C00002 transaction:EXIT_DEBIT",
            "湘C00003 stop:INSUFFICIENT_BALANCE",
            "湘C00004 transaction:EXIT_DEBIT",
          ]);
          // every record reached the open page as a live row, newest first
          const last = records.at(-1)?.seq;
          await p.waitForSelector(`#feed tr[data-seq="${last}"]`);
          expect(
            await p.locator("#feed tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-seq"))),
          ).toEqual(records.map((r) => String(r.seq)).reverse());
          expect(await p.locator(`#feed tr[data-seq="${records[2]?.seq}"]`).textContent()).toContain(
            "湘C00003",
          );
          expect(await p.locator("#feed-count").textContent()).toBe("4");
          expect(await p.getByTestId("lane-state").getAttribute("data-status")).toBe("open");

          // the trail search by the stopped vehicle's card: its one record, card masked
          const card = records[2]?.cardId as string;
          await p.fill('input[name="card"]', card);
          await Promise.all([p.waitForURL(/\/search\?/), p.click('form.search button[type="submit"]')]);
          const rows = p.locator('[data-testid="search-results"] tbody tr');
          expect(await rows.count()).toBe(1);
          expect(await rows.locator("td.code").allTextContents()).toEqual(["INSUFFICIENT_BALANCE"]);
          const text = await p.getByTestId("search-results").textContent();
          expect(text).toContain(maskCardId(card));
          expect(text).not.toContain(card);
        },
      );
    } finally {
      await (browser as Browser | null)?.close();
      await (served as ServedLane | null)?.close();
    }
  });
});
