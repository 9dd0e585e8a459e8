/**
 * A refused bundle as the operator reads it (`status-list import`, src/status-list/import-message.ts) and as
 * the trail records it (src/audit/events.ts): "status-list bundle refused: <why> [code]". The reason says
 * why once: it neither ends in a second ": refused" nor starts with "status-list bundle" again. A failure
 * that is the lane's own, not the bundle's, reads "status-list bundle not applied (the lane's own failure)";
 * a bundle made ahead of the lane's clock (E509), where either clock may be wrong, names both clocks.
 * Walk-through (session 32): "... (202612070600): refused [E506_BUNDLE_NOT_NEWER]", "status-list bundle
 * refused: status-list bundle malformed: bad magic ...", "... refused (does not chain)".
 */
import { expect, it } from "vitest";
import { buildBundle } from "../../sim/status-list/index.js";
import type { AuditEventInput } from "../../src/audit/entry.js";
import { LaneEvents } from "../../src/audit/events.js";
import { checkSignature, decodeHeader, HEADER_LEN, loadPublicKey } from "../../src/status-list/bundle.js";
import { StatusListErrors, slError } from "../../src/status-list/errors.js";
import { importRefusedMessage } from "../../src/status-list/import-message.js";
import { checkFullOrder, checkNewer, checkNotAhead } from "../../src/status-list/version-order.js";
import { card, otherKeyPair, stationPub } from "./helpers.js";

const rows = [{ kind: "card" as const, id: card(1), listType: 1, reason: "x" }];

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return importRefusedMessage(e);
  }
  throw new Error("not refused");
}

function header(kind: "full" | "delta", version: string, base: string | null = null) {
  return {
    ...decodeHeader(buildBundle({ kind: "full", version: "202612070000", rows, privateKeyPem: null })),
    kind,
    version,
    base,
  };
}

it("each refusal names its reason once: no second 'refused', no 'status-list bundle' again after it", () => {
  const held = { full: "202612070000", delta: "202612070600" };
  const messages = {
    E506: refusal(() => checkNewer(header("delta", "202612070600", "202612070000"), held)),
    E506full: refusal(() => checkNewer(header("full", "202612070300"), held)),
    E506pointer: refusal(() =>
      checkFullOrder(
        header("full", "202612060000"),
        { full: null, delta: null },
        {
          state: "unreadable",
          full: "202612070000",
          db: "sl-x.db",
        },
      ),
    ),
    E507: refusal(() => checkNewer(header("delta", "202612080000", "202612070300"), held)),
    E508: refusal(() =>
      checkNewer(header("delta", "202612080000", "202612070300"), { full: null, delta: null }),
    ),
    E502: refusal(() => decodeHeader(Buffer.from("full,card,32010000000000000001,1,x\n".repeat(8)))),
    unsigned: refusal(() => {
      const b = buildBundle({ kind: "full", version: "202612070000", rows, privateKeyPem: null });
      checkSignature(b.subarray(0, HEADER_LEN), b.subarray(HEADER_LEN), loadPublicKey(stationPub));
    }),
    otherKey: refusal(() => {
      const b = buildBundle({
        kind: "full",
        version: "202612070000",
        rows,
        privateKeyPem: otherKeyPair().privateKeyPem,
      });
      checkSignature(b.subarray(0, HEADER_LEN), b.subarray(HEADER_LEN), loadPublicKey(stationPub));
    }),
  };
  expect(messages.E506).toBe(
    "status-list bundle refused: delta 202612070600 is not newer than the version the lane holds (202612070600) [E506_BUNDLE_NOT_NEWER]",
  );
  expect(messages.E507).toBe(
    "status-list bundle refused: delta 202612080000 does not chain: it applies on 202612070300, but the lane holds 202612070600 [E507_BUNDLE_NOT_CHAINING]",
  );
  expect(messages.E502).toBe(
    "status-list bundle refused: not a status-list bundle (bad magic) [E502_BUNDLE_MALFORMED]",
  );
  for (const [what, m] of Object.entries(messages)) {
    expect(m.match(/refused/g), `${what}: ${m}`).toHaveLength(1);
    expect(m, what).not.toMatch(/refused: status-list bundle/);
  }
});

it("a bundle made ahead of the lane's clock (E509) is not applied, and not called the lane's own failure: both clocks are named", () => {
  // the station's clock or the lane's (an RTC reset, NTP off on either) may be the wrong one; the uplink
  // tries it again all the same (src/uplink/bundle-failures.ts), and the trail keeps `local: true`
  const ahead = refusal(() =>
    checkNotAhead(header("full", "202612070000"), Date.parse("2026-12-01T00:00:00Z")),
  );
  expect(ahead).toMatch(
    /^status-list bundle not applied \(the bundle's time is ahead of the lane's clock: one of the two clocks is wrong, check both the station's and the lane's; nothing applied\): full list 202612070000 was made .*, ahead of the lane's clock .* \[E509_BUNDLE_AHEAD_OF_CLOCK\]$/,
  );
  expect(ahead).not.toMatch(/own failure/);
  // the trail, as the operator's import writes it (src/lane/status-list-audit.ts)
  const got: AuditEventInput[] = [];
  new LaneEvents({ append: (e) => got.push(e) }).statusListRefused({
    bundle: "full-202612070000.bundle",
    reason: "full list 202612070000 was made ahead of the lane's clock",
    code: StatusListErrors.AheadOfClock,
    source: "operator",
    local: true,
  });
  expect(got[0]).toMatchObject({
    type: "status-list.refused",
    message:
      "status-list bundle full-202612070000.bundle not applied (the bundle's time is ahead of the lane's clock: one of the two clocks is wrong, check both the station's and the lane's; nothing applied): full list 202612070000 was made ahead of the lane's clock",
    data: { local: true },
  });
});

it("a failure that is the lane's own, not the bundle's, is not called a refusal: 'not applied (the lane's own failure)'", () => {
  // a list the lane built but cannot serve (src/status-list/apply-change.ts lanesFullError), an error without a code
  expect(
    importRefusedMessage(
      slError(
        StatusListErrors.Store,
        "full list 202612070000: the list `current` named (x) cannot be served (y); z",
      ),
    ),
  ).toBe(
    "status-list bundle not applied (the lane's own failure): full list 202612070000: the list `current` named (x) cannot be served (y); z [E511_STORE]",
  );
  expect(importRefusedMessage(new Error("EMFILE: too many open files"))).toBe(
    "status-list bundle not applied (the lane's own failure): EMFILE: too many open files",
  );
});
