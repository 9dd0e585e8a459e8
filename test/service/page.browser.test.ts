/**
 * The maintenance page in a real headless browser (Debian's chromium through playwright-core): it loads,
 * shows the lane state, the live feed grows as vehicles pass, and a search returns the expected rows.
 * Skipped, with one line saying so, only where /usr/bin/chromium is missing (.ci/run installs it).
 */
import type { Page } from "playwright-core";
import { expect, it } from "vitest";
import { maskCardId } from "../../src/service/format.js";
import { describeWithChromium, rigAndPage } from "./chromium.js";
import type { Rig } from "./harness.js";

describeWithChromium("maintenance page in headless Chromium", () => {
  let rig: Rig;
  let page: Page;
  rigAndPage((r, p) => {
    rig = r;
    page = p;
  });

  it("loads and shows the lane state, the booth queue and the status-list versions", async () => {
    for (let i = 0; i < 3; i++) rig.lane.pass();
    const res = await page.goto(rig.service.url);
    expect(res?.status()).toBe(200);
    const state = page.getByTestId("lane-state");
    expect(await state.getAttribute("data-status")).toBe("open");
    expect(await state.textContent()).toContain("开放");
    expect(await state.textContent()).toContain("OPEN");
    expect(await page.locator("#feed tr").count()).toBe(3);
    expect(await page.getByTestId("booth").textContent()).toContain("B5_MISSING");
    expect(await page.getByTestId("status-list").textContent()).toContain("202611260755");
    // the script ran (no CSP violation, no missing asset) and the live feed is connected
    await page.waitForSelector("#live.ok");
  });

  it("updates the live feed as vehicles pass, with card numbers masked", async () => {
    await page.goto(rig.service.url);
    await page.waitForSelector("#live.ok");
    const before = await page.locator("#feed tr").count();
    const a = rig.lane.pass({ plate: "湘A99999", cardId: "43010000000000009001", amount: 3500 });
    const b = rig.lane.pass({ kind: "stop", outcome: "CARD_ON_STATUS_LIST", cardId: "43010000000000009002" });
    await page.waitForSelector(`#feed tr[data-seq="${b.seq}"]`);
    const rowA = page.locator(`#feed tr[data-seq="${a.seq}"]`);
    const text = await rowA.textContent();
    expect(text).toContain("湘A99999");
    expect(text).toContain("35.00");
    expect(text).toContain(maskCardId("43010000000000009001"));
    expect(text).not.toContain("43010000000000009001");
    // newest first
    expect(await page.locator("#feed tr").first().getAttribute("data-seq")).toBe(String(b.seq));
    expect(await page.locator("#feed tr").count()).toBe(before + 2);
    expect(await page.locator("#feed-count").textContent()).toBe(String(before + 2));
  });

  it("shows the lane closing with its reason without a reload", async () => {
    await page.goto(rig.service.url);
    await page.waitForSelector("#live.ok");
    rig.lane.setState("closed", "rsu-down", "RSU link down: no heartbeat for 30 s");
    await page.waitForSelector('[data-testid="lane-state"][data-status="closed"]');
    const text = await page.getByTestId("lane-state").textContent();
    expect(text).toContain("关闭");
    expect(text).toContain("RSU link down: no heartbeat for 30 s");
  });

  it("searches the trail with the form's filters and shows exactly the rows the lane's search returned", async () => {
    const card = "43010000000000007777";
    const mine = [
      rig.lane.pass({ cardId: card }),
      rig.lane.pass({ cardId: card, kind: "stop", outcome: "ALREADY_TRADED" }),
    ];
    rig.lane.pass({ cardId: "43010000000000008888" });
    await page.goto(rig.service.url);
    await page.fill('input[name="card"]', card);
    await Promise.all([page.waitForURL(/\/search\?/), page.click('form.search button[type="submit"]')]);
    const rows = page.locator('[data-testid="search-results"] tbody tr');
    expect(await rows.count()).toBe(2);
    const outcomes = await rows.locator("td.code").allTextContents();
    expect(outcomes.sort()).toEqual(mine.map((r) => r.outcome).sort());
    expect(outcomes.sort()).toEqual(["ALREADY_TRADED", "EXIT_DEBIT"]);
    expect(await page.getByTestId("search-results").textContent()).toContain(maskCardId(card));
    expect(rig.lane.searches.at(-1)).toMatchObject({ card, limit: 200 });

    // kind and reason together, the form keeps what was asked
    await page.fill('input[name="card"]', "");
    await page.selectOption('select[name="kind"]', "stop");
    await page.fill('input[name="reason"]', "CARD_ON_STATUS_LIST");
    await Promise.all([
      page.waitForURL(/reason=CARD_ON_STATUS_LIST/),
      page.click('form.search button[type="submit"]'),
    ]);
    const stops = page.locator('[data-testid="search-results"] tbody tr');
    expect(await stops.count()).toBe(1);
    expect(await stops.locator("td.code").textContent()).toBe("CARD_ON_STATUS_LIST");
    expect(await page.inputValue('input[name="reason"]')).toBe("CARD_ON_STATUS_LIST");
  });

  it("reads a search time in the lane's time zone", async () => {
    // vehicles pass one second apart from 2026-11-26 08:00:00 +08:00 (fake-lane.ts); take a window
    const before = rig.lane.trail.length;
    const first = rig.lane.pass({ at: Date.UTC(2026, 10, 26, 1, 0, 0) }); // 09:00:00 +08:00
    rig.lane.pass({ at: Date.UTC(2026, 10, 26, 2, 0, 0) }); // 10:00:00 +08:00
    expect(rig.lane.trail.length).toBe(before + 2);
    await page.goto(`${rig.service.url}search?since=2026-11-26T08:59:59&until=2026-11-26T09:00:01`);
    const rows = page.locator('[data-testid="search-results"] tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("2026-11-26 09:00:00");
    expect(await rows.first().textContent()).toContain(first.outcome);
  });
});
