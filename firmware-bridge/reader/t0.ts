/**
 * 61xx, and 6Cxx to a case-2 APDU, are resolved by the reader, never by the host (docs/reader.md §5):
 * a CARD_APDU or PSAM_APDU reply carries the final R-APDU. This is the procedure a reader runs around each
 * APDU it passes to a card or PSAM, ISO 7816-4's T=0 rules at APDU level:
 *
 *  - SW 61xx: xx more bytes are waiting: send GET RESPONSE `00 C0 00 00 xx` and append its data;
 *    repeated while the answer is 61xx again (at most `maxGetResponse` times), the last SW is final;
 *  - SW 6Cxx to a case-2 APDU (header + Le, 5 bytes): wrong Le: send the same command once more with
 *    Le = xx, and take that answer. ISO 7816-3 defines this resend for case 2 only. A 6Cxx to any other
 *    APDU is passed on as the answer, never answered by sending the command again: a case-4 command
 *    (DEBIT) that a non-conforming card ran before answering 6Cxx would run twice. The booth takes a
 *    DEBIT answer it cannot use for a lost answer and recovers it from the card (docs/booth.md §2).
 *
 * A 61xx says the command ran and its answer waits. When that answer cannot be fetched (GET RESPONSE
 * answered neither 9000 nor 61xx, or 61xx still after `maxGetResponse` rounds) the card's or PSAM's
 * answer to the command is lost: `T0AnswerLost` is thrown, never GET RESPONSE's status word passed on as
 * the command's (a DEBIT that ran would read as refused). The reader then replies CARD_MUTE / PSAM_MUTE:
 * the command may have run (firmware-bridge/reader/status.ts).
 *
 * The simulated reader (sim/reader) runs it; a driver for another vendor's reader that leaves 61xx/6Cxx
 * to the host must run it in its own `CardReader` implementation, so callers never see them.
 */

export interface T0Options {
  /** Upper bound on GET RESPONSE rounds for one APDU. Default 16. */
  maxGetResponse?: number;
}

/** The command ran (it answered 61xx) but the answer it announced could not be fetched. */
export class T0AnswerLost extends Error {
  constructor(
    /** the command's own status word, 61xx */
    readonly announced: string,
    /** what the last GET RESPONSE answered (its status word), or 61xx when the rounds ran out */
    readonly getResponseSw: string,
    readonly rounds: number,
  ) {
    super(
      `the command ran (${announced}) but its answer was not fetched: GET RESPONSE round ${rounds} answered ${getResponseSw}`,
    );
    this.name = "T0AnswerLost";
  }
}

/**
 * One APDU with 61xx/6Cxx resolved; `send` passes one APDU to the card or PSAM and returns its answer.
 * Throws `T0AnswerLost` when a 61xx's answer cannot be fetched.
 */
export function exchangeResolvingT0(
  send: (apdu: Buffer) => Buffer,
  apdu: Buffer,
  opts: T0Options = {},
): Buffer {
  let answer = send(apdu);
  let sw1 = swOf(answer)[0];
  if (sw1 === 0x6c && apdu.length === 5) {
    answer = send(Buffer.concat([apdu.subarray(0, 4), Buffer.from([swOf(answer)[1]])]));
    sw1 = swOf(answer)[0];
  }
  const max = opts.maxGetResponse ?? 16;
  const announced = hex(answer.subarray(Math.max(0, answer.length - 2)));
  let data = answer.subarray(0, Math.max(0, answer.length - 2));
  let rounds = 0;
  while (sw1 === 0x61) {
    if (rounds >= max) throw new T0AnswerLost(announced, hex(answer.subarray(-2)), rounds);
    rounds++;
    const more = send(Buffer.from([0x00, 0xc0, 0x00, 0x00, swOf(answer)[1]]));
    const [m1, m2] = swOf(more);
    if (m1 !== 0x61 && !(m1 === 0x90 && m2 === 0x00))
      throw new T0AnswerLost(announced, hex(more.subarray(Math.max(0, more.length - 2))), rounds);
    data = Buffer.concat([data, more.subarray(0, more.length - 2)]);
    answer = more;
    sw1 = m1;
  }
  return Buffer.concat([data, answer.subarray(Math.max(0, answer.length - 2))]);
}

function swOf(r: Buffer): [number, number] {
  if (r.length < 2) return [0, 0];
  return [r[r.length - 2] as number, r[r.length - 1] as number];
}

const hex = (b: Buffer): string => b.toString("hex").toUpperCase();
