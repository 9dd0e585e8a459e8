/**
 * A station's refusal (HTTP 4xx) keeps at most 200 characters of its body in the error (src/uplink/
 * station-client.ts cutBody), which becomes the uplink's last error and a held record's message: the cut
 * never ends inside a run of letters and digits, so no card number is left with 5 to 19 of its 20 digits,
 * which the outputs' masking (whole card numbers only) would show in full. Session 30 review, round 2.
 */
import { describe, expect, it } from "vitest";
import { cutBody, StationClient } from "../../src/uplink/station-client.js";
import { LANE } from "../journal/helpers.js";

const CARD = "43010000000000009001";

describe("cutBody", () => {
  it("keeps a body that fits as it is", () => {
    expect(cutBody("short", 200)).toBe("short");
    expect(cutBody("x".repeat(200), 200)).toBe("x".repeat(200));
  });

  it("cuts a longer body before the run of letters and digits the limit falls in, and says it was cut", () => {
    const body = `${"a ".repeat(90)}card ${CARD} refused`; // the card number from character 185 to 205
    expect(body.indexOf(CARD)).toBeLessThan(200);
    expect(body.indexOf(CARD) + CARD.length).toBeGreaterThan(200);
    expect(cutBody(body, 200)).toBe(`${"a ".repeat(90)}card …`);
    // a limit between two runs cuts there
    expect(cutBody("abc def ghi", 4)).toBe("abc …");
    // one run longer than the limit: nothing of it
    expect(cutBody("x".repeat(300), 200)).toBe("…");
  });
});

it("a refusal whose card number crosses character 200 of the body leaves no part of it in the error", async () => {
  const body = JSON.stringify({
    error: "BAD_REQUEST",
    message: `${"n".repeat(150)} card ${CARD} is blocked`,
  });
  const at = body.indexOf(CARD);
  expect(at).toBeLessThan(200);
  expect(at + CARD.length).toBeGreaterThan(200);
  const refuse = (async () => new Response(body, { status: 400 })) as unknown as typeof fetch;
  const client = new StationClient(
    {
      baseUrl: "http://station.invalid:1",
      lane: LANE,
      requestTimeoutMs: 10_000,
      bundleTimeoutMs: 60_000,
      fetch: refuse,
    },
    new AbortController().signal,
  );
  const e = await client.heartbeat({}).then(
    () => null,
    (err: Error) => err,
  );
  expect(e?.message).toMatch(/^station heartbeat: HTTP 400 \{"error":"BAD_REQUEST"/);
  // before: the first 16 digits of the card number ended the message
  expect(e?.message).not.toMatch(/4301000/);
  expect(e?.message.endsWith("card …")).toBe(true);
});
