/**
 * The page's trail search refuses what `etc-lane audit search` refuses (src/service/trail-filters.ts): a
 * masked card number copied from the page, a card or OBU of the wrong length, a kind nobody writes, each
 * shown as the results' error naming the field, and nothing asked of the lane; instead of "0 rows".
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
