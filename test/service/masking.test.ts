/**
 * Card numbers on the page and its live feed (src/service/format.ts maskCardIds, src/service/page/render.ts,
 * the service's SSE sink, liveFeedSink in src/service/service-feed.ts): masked in their columns and in the free text the lane
 * wrote (a suspect's alarm "uncertain debit ... on card <id>", a booth case's detail), in the trail search's
 * results, the booth queue and the `alarm` and `booth` events; in the search form's card field and the
 * search's errors (maskTypedCard); /status keeps them in full for scripts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { maskCardIds, maskTypedCard } from "../../src/service/format.js";
import type { BoothCaseView } from "../../src/service/lane-view.js";
import { type Rig, startRig } from "./harness.js";

const CARD = "43010000000000012345";
const MASKED = "4301************2345";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("maskCardIds", () => {
  it("masks 20-digit card ids standing alone, not longer ids or hashes", () => {
    expect(maskCardIds(`uncertain debit of 1250 fen on card ${CARD}`)).toBe(
      `uncertain debit of 1250 fen on card ${MASKED}`,
    );
    expect(maskCardIds(`{"cardId":"${CARD}"}`)).toBe(`{"cardId":"${MASKED}"}`);
    const tradeId = "430101020320261126080000001234";
    expect(maskCardIds(`trade ${tradeId}`)).toBe(`trade ${tradeId}`);
    expect(maskCardIds(`sha ab${CARD}cd`)).toBe(`sha ab${CARD}cd`);
    // review: a card whose 0015 is not BCD is read as hex: it was shown in full
    expect(maskCardIds(`{"cardId":"4301000000a0b0c0d001"}`)).toBe(`{"cardId":"4301************d001"}`);
  });
});

describe("maskTypedCard", () => {
  it("masks every hex digit but the first and last 4 of a typed card value, keeping the rest in place", () => {
    expect(maskTypedCard(CARD)).toBe(MASKED);
    expect(maskTypedCard(`${CARD},43010000000000009002`)).toBe("4301****************,****************9002");
    expect(maskTypedCard("4301 0000 0001 2345 6789")).toBe("4301 **** **** **** 6789");
    expect(maskTypedCard(`${CARD}1`)).toBe("4301*************3451");
    // nothing to hide: short values and a masked number stay as typed
    expect(maskTypedCard("123")).toBe("123");
    expect(maskTypedCard(MASKED)).toBe(MASKED);
    expect(maskTypedCard("")).toBe("");
  });
});

describe("the page's trail search masks the card numbers it was given", () => {
  const searchError = (html: string): string | undefined =>
    /<p class="error" data-testid="search-error">(.*?)<\/p>/.exec(html)?.[1];

  // review: the form's card field echoed the number searched for, in full
  it("in the form's card field after a search by a full number; sent again, it is refused", async () => {
    rig = await startRig();
    const html = await (await rig.get(`/search?card=${CARD}`)).text();
    expect(html).toMatch(
      new RegExp(`<input type="text" name="card" value="${MASKED.replace(/\*/g, "\\*")}"`),
    );
    expect(html).not.toContain(CARD);
    expect(rig.lane.searches.at(-1)).toMatchObject({ card: CARD });
    // the form sent back as shown: refused, saying to give the number in full, and nothing searched
    const again = await (await rig.get(`/search?card=${encodeURIComponent(MASKED)}`)).text();
    expect(searchError(again)).toMatch(/a masked number .*cannot be searched: give it in full/);
    expect(rig.lane.searches).toHaveLength(1);
  });

  // review: "card: expected ..., got "<A>,<B>"" quoted both numbers in full
  it("in a refused card value, and in a search's failure", async () => {
    rig = await startRig();
    const other = "43010000000000009002";
    const html = await (await rig.get(`/search?card=${CARD},${other}`)).text();
    const error = searchError(html);
    expect(error).toMatch(/^card: expected a card number of 20/);
    expect(error).toContain("4301****************,****************9002");
    expect(html).not.toContain(CARD);
    expect(html).not.toContain(other);
    rig.lane.searchTrail = () => {
      throw new Error(`trail unreadable near the record of card ${other}`);
    };
    const failed = await (await rig.get(`/search?card=${CARD}`)).text();
    expect(searchError(failed)).toBe(
      "search failed: trail unreadable near the record of card 4301************9002",
    );
    expect(failed).not.toContain(other);
    expect(failed).not.toContain(CARD);
  });
});

describe("the page masks card numbers in the text the lane wrote", () => {
  it("in the trail search's messages, as in its card column", async () => {
    rig = await startRig();
    rig.lane.trail.push({
      seq: 9001,
      at: rig.lane.state.at,
      type: "lane.alarm",
      severity: "alarm",
      message: `SUSPECT_B5_MISSING: uncertain debit of 1250 fen on card ${CARD}`,
      outcome: "SUSPECT_B5_MISSING",
      cardId: CARD,
      obuId: "0a0b0c0d",
      plate: "湘A12345",
      amount: 1250,
      tradeId: null,
    });
    const html = await (await rig.get(`/search?card=${CARD}`)).text();
    const results = html.slice(html.indexOf('data-testid="search-results"'));
    expect(results).toContain('data-trail-seq="9001"');
    expect(results).toContain(`uncertain debit of 1250 fen on card ${MASKED}`);
    expect(html).not.toContain(`on card ${CARD}`);
  });

  it("in the trail search's outcome column, where an event's reason stands (an operator's free text)", async () => {
    rig = await startRig();
    rig.lane.trail.push({
      seq: 9002,
      at: rig.lane.state.at,
      type: "operator.lane.close",
      severity: "warn",
      message: "lane closed by operator ops",
      outcome: `dispute card ${CARD}`,
      cardId: null,
      obuId: null,
      plate: null,
      amount: null,
      tradeId: null,
    });
    const html = await (await rig.get("/search?kind=operator")).text();
    const results = html.slice(html.indexOf('data-testid="search-results"'));
    expect(results).toContain('data-trail-seq="9002"');
    expect(results).toContain(`dispute card ${MASKED}`);
    expect(html).not.toContain(CARD);
  });

  it("in the booth queue's details", async () => {
    rig = await startRig();
    const c = rig.lane.state.booth.cases[0]!;
    rig.lane.state = {
      ...rig.lane.state,
      booth: { ...rig.lane.state.booth, cases: [{ ...c, cardId: CARD, detail: `卡 ${CARD} 扣款结果未知` }] },
    };
    const html = await (await rig.get("/fragment/state")).text();
    expect(html).toContain(`卡 ${MASKED} 扣款结果未知`);
    expect(html).not.toContain(CARD);
    // /status is for scripts: the card in full
    const status = (await (await rig.get("/status")).json()) as { booth: { cases: BoothCaseView[] } };
    expect(status.booth.cases[0]!.cardId).toBe(CARD);
  });
});

describe("the live feed masks card numbers", () => {
  it("in alarm messages and booth cases", async () => {
    rig = await startRig();
    const abort = new AbortController();
    const res = await fetch(new URL("/events", rig.service.url), { signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const at = rig.lane.state.at;
    rig.lane.feed.next({
      type: "alarm",
      at,
      code: "SUSPECT_B5_MISSING",
      message: `SUSPECT_B5_MISSING: uncertain debit of 1250 fen on card ${CARD}`,
    });
    const bcase: BoothCaseView = {
      id: "b7",
      openedAt: at,
      kind: "suspect-debit",
      reason: "B5_MISSING",
      detail: `卡 ${CARD} 扣款结果未知`,
      obuId: "0a0b0c0d",
      cardId: CARD,
      plate: "湘A12345",
      seq: 7,
    };
    rig.lane.feed.next({ type: "booth", at, action: "opened", case: bcase });
    rig.service.pump.drain();
    let text = "";
    const decoder = new TextDecoder();
    while (!text.includes("event: booth")) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    const events = text
      .split("\n\n")
      .filter((f) => f.startsWith("event: alarm") || f.startsWith("event: booth"))
      .map((f) => JSON.parse(f.slice(f.indexOf("data: ") + 6)) as Record<string, unknown>);
    expect(events).toEqual([
      {
        type: "alarm",
        at,
        code: "SUSPECT_B5_MISSING",
        message: `SUSPECT_B5_MISSING: uncertain debit of 1250 fen on card ${MASKED}`,
      },
      {
        type: "booth",
        at,
        action: "opened",
        case: { ...bcase, cardId: MASKED, detail: `卡 ${MASKED} 扣款结果未知` },
      },
    ]);
    expect(text).not.toContain(CARD);
  });
  // session 30 review: the event was masked after JSON.stringify wrote a newline as \n, so a number right
  // after one did not stand alone and went out in full
  it("in an alarm message where the card number follows a newline, a tab or ESC", async () => {
    rig = await startRig();
    const abort = new AbortController();
    const res = await fetch(new URL("/events", rig.service.url), { signal: abort.signal });
    const reader = res.body!.getReader();
    const at = rig.lane.state.at;
    const message = `SUSPECT_B5_MISSING: uncertain debit, card:\n${CARD}\t${CARD}\u001b${CARD}`;
    rig.lane.feed.next({ type: "alarm", at, code: "SUSPECT_B5_MISSING", message });
    rig.service.pump.drain();
    let text = "";
    const decoder = new TextDecoder();
    while (!text.includes("event: alarm")) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    abort.abort();
    const frame = text.split("\n\n").find((f) => f.startsWith("event: alarm"))!;
    expect(JSON.parse(frame.slice(frame.indexOf("data: ") + 6))).toEqual({
      type: "alarm",
      at,
      code: "SUSPECT_B5_MISSING",
      message: `SUSPECT_B5_MISSING: uncertain debit, card:\n${MASKED}\t${MASKED}\u001b${MASKED}`,
    });
    expect(text).not.toContain(CARD);
  });
});
