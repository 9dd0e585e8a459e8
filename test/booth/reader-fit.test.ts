/**
 * The booth checks the reader's INFO at link-up (src/booth/reader-fit.ts, card-loop.ts): a PSAM slot the
 * reader does not have, or a reader whose frames are too small for the booth's, is refused then, with an
 * alarm naming the setting and what INFO said, and no card is read on it; before, the link came up and
 * the mistake showed only at the first vehicle ("no PSAM in the slot").
 */
import { describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { CardReader, ReaderInfo } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { CardLoop } from "../../src/booth/card-loop.js";
import type { Prompt } from "../../src/booth/prompts.js";
import { cardLoopDeps } from "./card-loop-rig.js";

const INFO: ReaderInfo = {
  protocolVersion: 1,
  psamSlots: 1,
  maxFrameLength: 1024,
  vendor: "test",
  model: "desk",
  firmware: "1",
  serial: "1",
};

function rig(info: ReaderInfo | undefined, psamSlot: number, opened: ReaderInfo = INFO) {
  const reads: number[] = [];
  const shown: string[] = [];
  const alarms: { code: string; message: string }[] = [];
  const reader = {
    info,
    open: () => Promise.resolve(opened),
    activate: () => {
      reads.push(reads.length + 1);
      return Promise.reject(new EtcError(ReaderErrorCodes.NoCard, "no card on the reader"));
    },
  } as unknown as CardReader;
  const deps = cardLoopDeps(
    reader,
    {
      alarm: (code: string, message: string) => alarms.push({ code, message }),
      show: (p: Prompt) => shown.push(`${p.step} ${p.detail}`),
      readerPort: "/dev/ttyUSB1",
      options: { psamSlot },
    },
    shown,
  );
  return { loop: new CardLoop(deps), reads, shown, alarms };
}

describe("the reader's INFO checked at link-up", () => {
  it("reader.psamSlot 2 on a 1-slot reader: refused at link-up with an alarm naming both; no card is read", async () => {
    const r = rig(INFO, 2);
    r.loop.onLink({ status: "up", since: 0 });
    await r.loop.idle();
    expect(r.reads).toEqual([]);
    expect(r.alarms).toEqual([
      {
        code: "BOOTH_READER_UNFIT",
        message:
          "booth not ready: card reader on /dev/ttyUSB1: reader.psamSlot is 2 but the reader's INFO says it has 1 PSAM slot(s)",
      },
    ]);
    expect(r.shown.every((s) => s.startsWith("READER_UNFIT "))).toBe(true);
    expect(r.shown.length).toBeGreaterThan(0);
    // what Booth.status() shows the status service and the page (src/booth/booth.ts)
    expect(r.loop.unfitReason).toBe("reader.psamSlot is 2 but the reader's INFO says it has 1 PSAM slot(s)");
    await r.loop.stop();
  });

  it("a reader that takes frames below what the booth needs is refused likewise", async () => {
    const r = rig({ ...INFO, maxFrameLength: 256 }, 1);
    r.loop.onLink({ status: "up", since: 0 });
    await r.loop.idle();
    expect(r.reads).toEqual([]);
    expect(r.alarms.map((a) => a.message)).toEqual([
      "booth not ready: card reader on /dev/ttyUSB1: the reader's INFO says it takes frames of at most 256 bytes; the booth needs 512",
    ]);
    await r.loop.stop();
  });

  it("a reader that fits: no alarm, the card is read; a fitting reader after an unfit one works again", async () => {
    const r = rig(INFO, 1);
    r.loop.onLink({ status: "up", since: 0 });
    await r.loop.idle();
    expect(r.reads).toEqual([1]);
    expect(r.alarms).toEqual([]);
    await r.loop.stop();
    const info = { ...INFO };
    const again = rig(info, 2);
    again.loop.onLink({ status: "up", since: 0 });
    await again.loop.idle();
    expect(again.reads).toEqual([]);
    expect(again.loop.unfitReason).toMatch(/^reader\.psamSlot is 2/);
    again.loop.onLink({ status: "down", since: 1, reason: "unplugged" });
    info.psamSlots = 2; // the reader was swapped for one with two slots
    again.loop.onLink({ status: "up", since: 2 });
    await again.loop.idle();
    expect(again.reads).toEqual([1]);
    expect(again.loop.unfitReason).toBeUndefined();
    await again.loop.stop();
  });

  it("a reader without INFO at link-up (its `info` not given) is checked with what open() answered", async () => {
    const r = rig(undefined, 2);
    r.loop.onLink({ status: "up", since: 0 }); // before open() resolved: INFO not known yet
    await r.loop.idle();
    expect(r.alarms).toEqual([]);
    const readsBefore = r.reads.length;
    await r.loop.open("/dev/ttyUSB1");
    await r.loop.idle();
    expect(r.alarms.map((a) => a.code)).toEqual(["BOOTH_READER_UNFIT"]);
    expect(r.reads).toHaveLength(readsBefore); // nothing read once the reader is known unfit
    await r.loop.stop();
  });
});
