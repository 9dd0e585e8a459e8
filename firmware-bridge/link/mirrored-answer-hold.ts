/**
 * Legacy: a lane-initiated frame held while its mirrored answer would be taken for a repeat
 * (docs/link.md "Lane SEQ and answers numbered after it"). Every legacy lane-initiated frame goes out under
 * RSCTL 0x80 (docs/protocol.md §1), and an RSU that numbers its answer after it, as the lane numbers its
 * replies, answers under `08`: the RSCTL an RSU also announces itself with (a B0 on a new connection
 * without a reboot). When such an announcement came within `dedupeWindowMs` and less than a sequence cycle
 * ago, an answer with the same DATA (a B0 repeating the status it announced) would be absorbed as the
 * announcement's repeat and the lane would wait in vain. There is no other RSCTL to send under, so such a
 * frame (one whose declared replies include the type last received under `08`) waits until the answer
 * could no longer be taken for a repeat: at most `dedupeWindowMs`. The dedupe itself is unchanged, so a
 * true retransmission of the announcement is still absorbed. Frames sent while one is held go out after
 * it, in order; a link lost or stopped meanwhile refuses them with nothing written.
 */
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Frame } from "../frames/catalogue.js";
import { LANE_INITIATED_RSCTL, swapNibbles } from "../framing/legacy.js";
import type { AnswerCache } from "./answer-cache.js";
import type { SentFrame } from "./frame-channel.js";

/** The RSCTL an RSU mirroring the lane's 0x80 answers under. */
const MIRRORED_RSCTL = swapNibbles(LANE_INITIATED_RSCTL);
/** Re-checks after a hold: a new frame under 08 during it starts another window; this bounds the wait. */
const MAX_HOLDS = 3;

export interface MirroredAnswerHoldInit {
  answers: AnswerCache;
  /** the transport is open */
  isOpen: () => boolean;
  /** the LinkDown error (nothing written) for a frame of `type` not sent */
  downError: (type: string) => EtcError;
  /** the transport's name, for errors */
  name: string;
  /** writes `frame` under RSCTL 0x80 */
  write: (frame: Frame) => Promise<SentFrame>;
}

export class MirroredAnswerHold {
  /** settles when the frames held so far have gone out (or failed) */
  private tail: Promise<void> | undefined;

  constructor(private readonly o: MirroredAnswerHoldInit) {}

  /**
   * Sends `frame`, whose answers are of the types `replies`, now or once its answer cannot be absorbed.
   * `onWrite` runs when the frame is handed to the transport (until then nothing of it can be written).
   */
  send(frame: Frame, replies: readonly string[], onWrite?: () => void): Promise<SentFrame> {
    if (this.tail === undefined && this.o.answers.repeatableFor(MIRRORED_RSCTL, replies) === 0) {
      onWrite?.();
      return this.o.write(frame);
    }
    const generation = this.o.answers.generation;
    const run = (this.tail ?? Promise.resolve()).then(async () => {
      for (let i = 0; i < MAX_HOLDS; i++) {
        const ms = this.o.answers.repeatableFor(MIRRORED_RSCTL, replies);
        if (ms === 0 || this.o.answers.generation !== generation) break;
        await new Promise<void>((resolve) => setTimeout(resolve, ms));
      }
      if (this.o.answers.generation !== generation) {
        throw new EtcError(
          ErrorCodes.LinkDown,
          `${this.o.name}: ${frame.type} not sent: the RSU link was lost or stopped while it was held for the dedupe window`,
          NOTHING_WRITTEN,
        );
      }
      if (!this.o.isOpen()) throw this.o.downError(frame.type);
      onWrite?.();
      return this.o.write(frame);
    });
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tail = tail;
    void tail.then(() => {
      if (this.tail === tail) this.tail = undefined;
    });
    return run;
  }
}
