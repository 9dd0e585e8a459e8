/**
 * The search form shows what was searched (src/service/http/search.ts searchFromParams, src/service/page/
 * render.ts renderSearchForm), so that sending it again, another field changed, searches the same: the
 * times as datetime-local values in the lane's UTC offset (the page's datetime-local fields show nothing
 * of "-2h", "today" or a time with its own offset), a kind the dropdown does not list as a selected option
 * of its own, and, when a field is refused, every field as it was sent, not an empty form.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseSearchTime } from "../../src/service/http/search.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** the value of the form's input `name` */
const field = (html: string, name: string): string | undefined =>
  new RegExp(`<input type="[^"]*" name="${name}" value="([^"]*)"`).exec(html)?.[1];
/** the form's selected kinds (value) */
const selectedKinds = (html: string): string[] =>
  [...html.matchAll(/<option value="([^"]*)" selected>/g)].map((m) => m[1] as string);
const searchError = (html: string): string | undefined =>
  /<p class="error" data-testid="search-error">(.*?)<\/p>/.exec(html)?.[1];

describe("the search form after a search", () => {
  it("shows each time searched as a datetime-local value in the lane's offset, the bound it searched", async () => {
    const t = Date.UTC(2026, 10, 26, 4, 0, 0, 750); // 12:00:00.750 at UTC+08:00
    rig = await startRig({}, false, { now: () => t });
    const r = rig;
    const off = r.lane.state.lane.utcOffsetMinutes;
    const form = async (q: string) => {
      const html = await (await r.get(`/search?${q}`)).text();
      expect(searchError(html)).toBeUndefined();
      return [field(html, "since"), field(html, "until")];
    };
    // relative times count from the service's clock to the second: the form shows what was searched
    expect(await form("since=-2h&until=now")).toEqual(["2026-11-26T10:00:00", "2026-11-26T12:00:00"]);
    expect(await form("since=today")).toEqual(["2026-11-26T00:00:00", ""]);
    expect(
      await form(
        `since=${encodeURIComponent("2026-11-26T08:00:00Z")}&until=${encodeURIComponent("2026-11-26 17:30")}`,
      ),
    ).toEqual(["2026-11-26T16:00:00", "2026-11-26T17:30:00"]);
    expect(await form("since=2026-11-26T08:00:05.250")).toEqual(["2026-11-26T08:00:05.250", ""]);
    // each shown value, sent again, is the bound searched
    const sent = r.lane.searches.flatMap((q) => [q.since, q.until]);
    const shown = [
      "2026-11-26T10:00:00",
      "2026-11-26T12:00:00",
      "2026-11-26T00:00:00",
      undefined,
      "2026-11-26T16:00:00",
      "2026-11-26T17:30:00",
      "2026-11-26T08:00:05.250",
      undefined,
    ].map((v) => (v === undefined ? undefined : parseSearchTime(v, off, "since", 0)));
    expect(sent).toEqual(shown);
    // a field showing milliseconds steps by them (step 1 makes a browser hold the value invalid and refuse
    // to send the form again); one showing whole seconds by seconds
    const html = await (await r.get("/search?since=2026-11-26T08:00:05.250&until=2026-11-26T09:00")).text();
    expect(/<input type="datetime-local" name="since" value="[^"]*" step="([^"]*)"/.exec(html)?.[1]).toBe(
      "0.001",
    );
    expect(/<input type="datetime-local" name="until" value="[^"]*" step="([^"]*)"/.exec(html)?.[1]).toBe(
      "1",
    );
  });

  it("shows a kind the dropdown does not list as asked, selected, not as all", async () => {
    rig = await startRig();
    const html = await (await rig.get("/search?kind=lane.alarm")).text();
    expect(searchError(html)).toBeUndefined();
    expect(rig.lane.searches.at(-1)?.kind).toBe("lane.alarm");
    expect(selectedKinds(html)).toEqual(["lane.alarm"]);
    // one the list has: that one, once
    expect(selectedKinds(await (await rig.get("/search?kind=stop")).text())).toEqual(["stop"]);
    expect(selectedKinds(await (await rig.get("/")).text())).toEqual([""]);
  });

  it("keeps every field as sent when one is refused", async () => {
    rig = await startRig();
    const q = new URLSearchParams({
      since: "2026-11-26T08:00",
      until: "2026-11-31T08:00",
      plate: "湘A12345",
      reason: "EXIT_DEBIT",
      kind: "transaction",
      obu: "0a0b0c0d",
    });
    const html = await (await rig.get(`/search?${q}`)).text();
    expect(searchError(html)).toMatch(/^until: expected a date and time/);
    expect(rig.lane.searches).toEqual([]);
    expect(field(html, "since")).toBe("2026-11-26T08:00:00");
    expect(field(html, "until")).toBe("2026-11-31T08:00");
    expect(field(html, "plate")).toBe("湘A12345");
    expect(field(html, "reason")).toBe("EXIT_DEBIT");
    expect(field(html, "obu")).toBe("0a0b0c0d");
    expect(selectedKinds(html)).toEqual(["transaction"]);

    // a refused card: the others kept, the card masked as ever
    const card = new URLSearchParams({ card: "4301************9001", plate: "湘A12345" });
    const refused = await (await rig.get(`/search?${card}`)).text();
    expect(searchError(refused)).toMatch(/^card: /);
    expect(field(refused, "plate")).toBe("湘A12345");
    expect(field(refused, "card")).toBe("4301************9001");
  });
});
