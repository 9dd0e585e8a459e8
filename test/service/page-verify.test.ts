/**
 * The maintenance page's "last verify" card (src/service/page/render.ts): intact, BROKEN (verify found a
 * problem), and could not run (the lane's background verify threw: src/audit/background-verify.ts
 * couldNotRun), which measured nothing, so the card shows no range and no unsealed count.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { VerifyView } from "../../src/service/lane-view.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The verify card's rows as text, label (its English part) to value, from the state fragment. */
async function verifyCard(r: Rig, v: VerifyView): Promise<Record<string, string>> {
  r.lane.verify = v;
  const html = await (await r.get("/fragment/state")).text();
  const card = /<section class="card" data-testid="verify">(.*?)<\/section>/s.exec(html)![1]!;
  const rows: Record<string, string> = {};
  for (const m of card.matchAll(/<span class="en">([^<]*)<\/span><\/dt><dd>(.*?)<\/dd>/g))
    rows[m[1]!] = m[2]!.replace(/<[^>]+>/g, "");
  return rows;
}

describe("the page's last verify", () => {
  it("intact and BROKEN show the range and the unsealed tail verify measured; a run that could not run shows as such, with neither", async () => {
    rig = await startRig();
    const at = Date.UTC(2026, 10, 20, 1, 0, 0);
    expect(
      await verifyCard(rig, { ok: true, at, range: { from: 1, to: 40 }, unsealed: 3, problem: null }),
    ).toMatchObject({ result: "完好 intact", range: "1..40", unsealed: "3" });
    expect(
      await verifyCard(rig, {
        ok: false,
        at,
        range: { from: 1, to: 40 },
        unsealed: 3,
        problem: "seq 4: journal record 3 was changed",
      }),
    ).toMatchObject({
      result: "异常 BROKEN",
      range: "1..40",
      unsealed: "3",
      problem: "seq 4: journal record 3 was changed",
    });
    // before: 异常 BROKEN and "unsealed 0", a count nothing measured
    const problem =
      "verify could not run: ENOENT: no such file or directory, open /data/audit/audit-000000000001.log";
    expect(
      await verifyCard(rig, { ok: false, couldNotRun: true, at, range: null, unsealed: 0, problem }),
    ).toEqual({
      result: "未能校验 could not run",
      at: expect.any(String),
      range: "-",
      unsealed: "-",
      problem,
    });
  });
});
