/**
 * What `audit verify` finds wrong (./verify.ts), and the two ways a check reports it: `stop` for a problem
 * after which the chain cannot be followed (the walk ends there), `note` for one the walk goes on after
 * (an incident the lane recorded, a journal row).
 */

export interface VerifyProblem {
  /** the entry's seq, when there is one */
  seq: number | null;
  file: string | null;
  /** 1-based line in that file */
  line: number | null;
  what: string;
}

/** Where an entry is. */
export interface At {
  seq: number;
  file: string;
  line: number;
}

/** Thrown by `Problems.stop`; caught where the walk ends (./verify-walk.ts, ./verify-file-end.ts). */
export class Stop extends Error {}

export class Problems {
  constructor(readonly list: VerifyProblem[]) {}

  /** a problem after which the chain cannot be followed: the walk ends here */
  stop(seq: number | null, file: string | null, line: number | null, what: string): never {
    this.list.push({ seq, file, line, what });
    throw new Stop();
  }

  /** a problem the walk can go on after */
  note(seq: number | null, file: string | null, line: number | null, what: string): void {
    this.list.push({ seq, file, line, what });
  }
}
