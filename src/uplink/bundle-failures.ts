/**
 * What the status-list poller (./status-list-poller.ts) does with a bundle the sink did not apply, while
 * the manifest goes on offering it first (docs/station-api.md "Status lists"):
 * - a refusal of the bundle itself (src/status-list/errors.ts isBundleRefusal: its format, signature or
 *   key, digest, version order, base, a delta with no full list active): the same bytes would be refused
 *   again while the lane holds the versions the manifest was asked with (E501-E505 judge the bytes alone,
 *   E506-E508 judge them against those versions; an E506 or E507 after another apply moved them is no
 *   refusal, ./status-list-poller.ts `overtaken`), so the bundle is not fetched again until the manifest
 *   offers another;
 * - any other failure is the lane's (its disk or store full, its worker died, the cache closed, the bundle
 *   ahead of the lane's clock, an error without a code): the bundle is tried again, the first time at the
 *   next poll, then after 2 and 4 polls, then every RETRY_MAX_POLLS (8) polls, so a local condition that
 *   lasts neither stops the list's updates nor has the lane try the bundle at every poll.
 * Forgotten when the manifest offers another bundle first (or none), and at restart.
 */
/**
 * The most polls between two tries of a bundle the lane failed to apply: 20 minutes at the default 2.5 min,
 * under the default delta age limit (statusList.deltaMaxAgeMinutes, 30), so a list whose cause is gone
 * moves on before a fresh one is overdue.
 */
export const RETRY_MAX_POLLS = 8;

type Named = { name: string; sha256: string };

interface Failed extends Named {
  /** a local failure, to be tried again; false: a refusal, not fetched again */
  local: boolean;
  /** consecutive failures of this bundle */
  failures: number;
  /** polls still to leave it alone before the next try */
  wait: number;
}

export class BundleFailures {
  private last: Failed | null = null;

  /** The bundle that failed last, while it is the one the manifest offers first. */
  get current(): Readonly<Failed> | null {
    return this.last;
  }

  /**
   * At each poll, with the bundle the manifest offers first: true when the poll leaves it alone (refused,
   * or a local failure still waiting for its next try). Forgets a failure once another bundle comes first
   * (returns the one forgotten through `forgot`).
   */
  holdsBack(first: Named | undefined, forgot: (f: Readonly<Failed>) => void): boolean {
    const f = this.last;
    if (!f) return false;
    if (first?.name !== f.name || first.sha256 !== f.sha256) {
      this.last = null;
      forgot(f);
      return false;
    }
    if (!f.local) return true;
    if (f.wait > 0) {
      f.wait--;
      return true;
    }
    return false;
  }

  /** The sink refused `b` itself: not fetched again while the manifest offers it first. */
  refused(b: Named): void {
    this.last = { name: b.name, sha256: b.sha256, local: false, failures: 1, wait: 0 };
  }

  /**
   * The lane failed to apply `b`: tried again after 2^(n-1) polls (at most RETRY_MAX_POLLS) for its n-th
   * failure in a row. Returns n and the polls until the next try.
   */
  failedLocally(b: Named): { failures: number; nextTryInPolls: number } {
    const prev = this.last;
    const same = prev?.local === true && prev.name === b.name && prev.sha256 === b.sha256;
    const failures = same ? prev.failures + 1 : 1;
    const nextTryInPolls = Math.min(2 ** Math.min(failures - 1, 30), RETRY_MAX_POLLS);
    this.last = { name: b.name, sha256: b.sha256, local: true, failures, wait: nextTryInPolls - 1 };
    return { failures, nextTryInPolls };
  }

  /** The bundle was applied (or changed the list served): nothing held. */
  clear(): void {
    this.last = null;
  }
}
