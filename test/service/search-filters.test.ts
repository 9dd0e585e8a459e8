/**
 * The page's trail search refuses what `etc-lane audit search` refuses (src/service/trail-filters.ts): a
 * masked card number copied from the page, a card or OBU of the wrong length, a kind nobody writes, each
 * shown as the results' error naming the field, and nothing asked of the lane; instead of "0 rows". A
 * refused value is quoted with a run that could be a card number masked (src/service/format.ts
 * quotedRefused), its since and until too.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const searchError = (html: string): string | undefined =>
  /<p class="error" data-testid="search-error">(.*?)<\/p>/.exec(html)?.[1];

describe("GET /search filters", () => {
  it("refuses a masked card number, naming the field, and searches nothing", async () => {
    rig = await startRig();
    const res = await rig.get(`/search?card=${encodeURIComponent("4301************9001")}`);
    expect(res.status).toBe(200);
    const error = searchError(await res.text());
    expect(error).toMatch(
      /^card: expected a card number of 20 \(hex\) digits .*a masked number .*cannot be searched/,
    );
    expect(rig.lane.searches).toEqual([]);
  });

  it("refuses a 15-digit card, a bad OBU and an unknown kind as the CLI does", async () => {
    rig = await startRig();
    const r = rig;
    const errorOf = async (q: string) => searchError(await (await r.get(`/search?${q}`)).text());
    expect(await errorOf("card=430100000000900")).toMatch(/^card: expected a card number of 20/);
    expect(await errorOf("obu=12345")).toMatch(/^obu: expected an OBU contract serial of 16 hex digits/);
    expect(await errorOf("kind=alarms")).toMatch(/^kind: unknown &quot;alarms&quot;; expected /);
    expect(r.lane.searches).toEqual([]);
  });

  // noticed: the page's own since/until refusals quoted the value as typed (the error's maskCardIds masks
  // only a standalone run of 20 digits), while its OBU and kind refusals and the CLI's mask it
  it("refuses a since or until that is no time, quoting it with a card-like run masked as the CLI does", async () => {
    rig = await startRig();
    const r = rig;
    const errorOf = async (q: Record<string, string>) =>
      searchError(await (await r.get(`/search?${new URLSearchParams(q)}`)).text());
    expect(await errorOf({ since: "4301 0000 0000 0000 9001" })).toBe(
      "since: expected a date and time such as 2026-11-26T08:00, got &quot;4301 **** **** **** 9001&quot;",
    );
    expect(await errorOf({ until: "43010000000000009001x" })).toBe(
      "until: expected a date and time such as 2026-11-26T08:00, got &quot;4301************9001x&quot;",
    );
    // a mistyped time stays readable: only a run that could be a card number is masked
    expect(await errorOf({ since: "2026-13-26 08:00" })).toBe(
      "since: expected a date and time such as 2026-11-26T08:00, got &quot;2026-13-26 08:00&quot;",
    );
    expect(r.lane.searches).toEqual([]);
  });

  it("takes a full card, an OBU and every kind the form offers", async () => {
    rig = await startRig();
    const r = rig;
    const form = await (await r.get("/")).text();
    const kinds = [...form.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1] as string);
    expect(kinds).toContain("transaction");
    for (const k of kinds)
      expect(searchError(await (await r.get(`/search?kind=${k}`)).text())).toBeUndefined();
    const ok = await (await r.get("/search?card=43010000000000009001&obu=a1B2c3D4")).text();
    expect(searchError(ok)).toBeUndefined();
    expect(r.lane.searches.at(-1)).toMatchObject({ card: "43010000000000009001", obu: "a1B2c3D4" });
  });
});
