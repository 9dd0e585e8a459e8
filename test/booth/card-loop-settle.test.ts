/**
 * The booth's card watch (src/booth/card-loop.ts) when a suspect's settlement fails because the card was
 * lifted: the collector puts it straight back, and that card-inserted event reaches the booth before the
 * settlement's "card removed" error does. The card must stay present and be read again, not be marked
 * absent by the stale error (the booth then waited for a card that lay on the reader).
 *
 * readCard and settleSuspect are stubbed: this is the loop's bookkeeping, not the card's evidence.
 */
import { describe, expect, it, vi } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { CardLoop, type CardLoopDeps } from "../../src/booth/card-loop.js";
import { type CardRead, readCard } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { BoothContext } from "../../src/booth/context.js";
import { settleSuspect } from "../../src/booth/settle.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  readCard: vi.fn(),
}));
vi.mock("../../src/booth/settle.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/settle.js")>()),
  settleSuspect: vi.fn(),
}));

const CARD = "43012200000000000001";

describe("the booth's card watch around a settlement", () => {
  it("a suspect's card lifted during its evidence and put straight back: read again and settled then", async () => {
    const suspect = { seq: 5, tradeId: "t5", cardId: CARD, obuSerial: null, outcome: "B5_NO_DSRC" };
    const kase = { id: "s5", kind: "suspect", seq: 5, cardId: CARD, obuSerial: null } as unknown as BoothCase;
    const shown: string[] = [];
    const ctx = {
      reader: {},
      now: () => 0,
      clock: { waitMs: 0 },
      lineBytes: () => null,
      psam: { invalidate: () => undefined },
      audit: () => undefined,
      show: (p: { step: string }) => shown.push(p.step),
      signal: async () => undefined,
      readerPort: "test",
      options: { layout0019: "auto" },
      counters: { cardErrors: 0 },
      journal: { findOpenSuspect: () => suspect },
      lane: { guards: { recentlyTraded: () => false } },
    } as unknown as BoothContext;
    const deps: CardLoopDeps = {
      ctx,
      reader: {} as CardReader,
      wakeup: { wake: () => undefined } as unknown as CardLoopDeps["wakeup"],
      desk: {
        size: 1,
        pick: () => kase,
        get: () => kase,
        ownCase: () => kase,
        remove: () => undefined,
        release: () => undefined,
        showWaiting: () => shown.push("waiting"),
      } as unknown as CardLoopDeps["desk"],
      recoveries: { next: () => undefined } as unknown as CardLoopDeps["recoveries"],
      log: silentLogger,
    };
    const loop = new CardLoop(deps);
    const reads = vi.mocked(readCard).mockResolvedValue({ cardId: CARD, last: null } as unknown as CardRead);
    const settles = vi
      .mocked(settleSuspect)
      .mockImplementationOnce(async () => {
        // the card lifted while its evidence is read, and put straight back; the events come first
        loop.onCardEvent({ kind: "removed" });
        loop.onCardEvent({ kind: "inserted" });
        throw new EtcError(ReaderErrorCodes.CardRemoved, "card removed");
      })
      .mockResolvedValueOnce("debited");
    loop.onLink({ status: "up", since: 0 });
    await loop.idle();
    expect(shown).toEqual(["CARD_ERROR"]);
    // the card put back was read again and its suspect settled then
    expect(reads).toHaveBeenCalledTimes(2);
    expect(settles).toHaveBeenCalledTimes(2);
    expect(ctx.counters.cardErrors).toBe(1);
    await loop.stop();
  });
});
