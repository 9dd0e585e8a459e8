/**
 * The booth's card watch (src/booth/card-loop.ts) against a reader whose events race its answers: a card
 * put on the reader while a read of the empty reader is being answered "no card". The unsolicited
 * card-inserted event reaches the booth before the stale answer does; the card must stay present and be
 * read, not be marked absent by that answer (the booth then waited for a card that was already there).
 */
import { describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { CardLoop } from "../../src/booth/card-loop.js";
import { cardLoopDeps } from "./card-loop-rig.js";

function rig(activate: (loop: CardLoop) => Promise<never>) {
  const reads: number[] = [];
  const shown: string[] = [];
  let loop: CardLoop | undefined;
  const reader = {
    activate: () => {
      reads.push(reads.length + 1);
      return activate(loop as CardLoop);
    },
  } as unknown as CardReader;
  const deps = cardLoopDeps(reader, {}, shown);
  loop = new CardLoop(deps);
  return { loop, reads, shown };
}

const noCard = (): EtcError => new EtcError(ReaderErrorCodes.NoCard, "no card on the reader");

describe("the booth's card watch", () => {
  it("a card inserted while the read of the empty reader is answered 'no card' stays present and is read again", async () => {
    const { loop, reads } = rig((l) => {
      if (reads.length === 1) {
        // the reader's unsolicited CARD_INSERTED is handled before the stale NO_CARD answer of this read
        l.onCardEvent({ kind: "inserted" });
        return Promise.reject(noCard());
      }
      // the read the event asked for: the reader is closed under it (the test ends here)
      return Promise.reject(new EtcError(ReaderErrorCodes.Aborted, "closed"));
    });
    loop.onLink({ status: "up", since: 0 });
    await loop.idle();
    // the event's read ran, after the stale answer; the watch did not drop to "absent" in between
    expect(reads).toEqual([1, 2]);
    expect(loop.watch.state).toBe("unknown");
    await loop.stop();
  });

  it("a 'no card' answer with no card event since the read began marks the reader empty", async () => {
    const { loop, reads, shown } = rig(() => Promise.reject(noCard()));
    loop.onLink({ status: "up", since: 0 });
    await loop.idle();
    expect(reads).toEqual([1]);
    expect(loop.watch.state).toBe("absent");
    expect(shown).toEqual(["waiting"]);
    await loop.stop();
  });
});
