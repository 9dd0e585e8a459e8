/**
 * The page's live feed and a settlement (src/service/page/assets/page.js): a suspect settled after its
 * vehicle finished arrives as a `settlement` event whose row replaces the vehicle's row in place; it is
 * not another vehicle (the count stays), and a settlement of a vehicle no longer on the page adds nothing.
 * In Debian's Chromium (skipped, with one line saying so, where /usr/bin/chromium is missing).
 */
import type { Page } from "playwright-core";
import { expect, it } from "vitest";
import { describeWithChromium, rigAndPage } from "./chromium.js";
import type { Rig } from "./harness.js";

describeWithChromium("the live feed in headless Chromium: a settlement", () => {
  let rig: Rig;
  let page: Page;
  rigAndPage((r, p) => {
    rig = r;
    page = p;
  });

  it("replaces the suspect's row in place; the count stays; an unknown seq adds no row", async () => {
    await page.goto(rig.service.url);
    await page.waitForSelector("#live.ok");
    const suspect = rig.lane.pass({ kind: "suspect", outcome: "B5_MISSING", decisionMs: 2.5 });
    const after = rig.lane.pass();
    await page.waitForSelector(`#feed tr[data-seq="${after.seq}"]`);
    const rows = await page.locator("#feed tr").count();
    const count = await page.locator("#feed-count").textContent();
    const row = page.locator(`#feed tr[data-seq="${suspect.seq}"]`);
    expect(await row.textContent()).toContain("B5_MISSING");

    rig.lane.feed.next({
      type: "settlement",
      at: suspect.at + 5000,
      record: { ...suspect, kind: "transaction", outcome: "EXIT_DEBIT_SETTLED" },
      settledBy: "b5",
    });
    // a settlement of a vehicle the page no longer shows, then a new vehicle after it
    rig.lane.feed.next({
      type: "settlement",
      at: suspect.at + 6000,
      record: { ...suspect, seq: 1, kind: "stop", outcome: "SUSPECT_NOT_DEBITED", amount: 0 },
      settledBy: "operator",
    });
    const next = rig.lane.pass();
    await page.waitForSelector(`#feed tr[data-seq="${next.seq}"]`);

    expect(await row.textContent()).toContain("EXIT_DEBIT_SETTLED");
    expect(await row.getAttribute("class")).toBe("k-transaction");
    // in its place: still below the vehicle that came after it
    const order = await page
      .locator("#feed tr")
      .evaluateAll((trs) => trs.map((t) => t.getAttribute("data-seq")));
    expect(order.indexOf(String(suspect.seq))).toBe(order.indexOf(String(after.seq)) + 1);
    // one row and one count more: the new vehicle's, none for either settlement
    expect(await page.locator("#feed tr").count()).toBe(rows + 1);
    expect(await page.locator("#feed-count").textContent()).toBe(String(Number(count) + 1));
    expect(await page.locator('#feed tr[data-seq="1"]').count()).toBe(0);
  });
});
