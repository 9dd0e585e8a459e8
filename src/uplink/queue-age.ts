/**
 * How long the queue has waited, for the uplink's status (`UplinkStatus.oldestPendingAgeMs`,
 * ./uplink-status.ts): the outbox's age on the wall clock, never less than the time this process has seen
 * the head of the queue wait on the monotonic clock.
 */
import type { QueueAge } from "../journal/outbox.js";

export class QueueAgeWatch {
  /**
   * The head of the queue this process watches wait (`seq`), and the monotonic instant from which it has
   * waited (ageMs); null while nothing is queued.
   */
  private headSeen: { seq: number; since: number } | null = null;

  constructor(private readonly mono: () => number) {}

  /**
   * Records of `batch` left the queue (acknowledged or held): the head watched (ageMs), if it was one of them,
   * is no longer watched, so a record queued again ahead of it meanwhile (a settlement) is seen at its own
   * age, not at the time the one that went had waited.
   */
  leftQueue(batch: readonly { seq: number }[]): void {
    const seen = this.headSeen;
    if (seen !== null && batch.some((r) => r.seq === seen.seq)) this.headSeen = null;
  }

  /**
   * The queue's age for the status: the outbox's, on the wall clock (QueueAge.oldestMs: from when the
   * record queued earliest joined the queue), or, when larger, how long this process has seen the head of
   * the queue wait on the monotonic clock, so that a wall clock set back does not hide a queue that does
   * not move. The head is first seen at its wall-clock age; a new one is watched once the one watched has
   * left the queue (the head's seq is then higher: the lowest seq queued). A record that joins ahead of it
   * (a settled record queued again under its seq) does not restart the count: the one watched still waits
   * behind it; once it is acknowledged or held (leftQueue), the head is seen anew.
   */
  ageMs(q: QueueAge | null): number | null {
    if (q === null) {
      this.headSeen = null;
      return null;
    }
    const mono = this.mono();
    if (this.headSeen === null || q.head.seq > this.headSeen.seq)
      this.headSeen = { seq: q.head.seq, since: mono - q.head.ageMs };
    return Math.max(q.oldestMs, mono - this.headSeen.since);
  }
}
