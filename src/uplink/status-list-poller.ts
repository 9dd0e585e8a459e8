/**
 * The uplink's status-list polls (docs/station-api.md "Status lists"): asks the station's manifest for
 * what is newer than the lists the sink holds, downloads one bundle a few pages per poll (the
 * BundleDownload it owns, ./bundle-download.ts), hands it to the sink, and records `status-list.applied`
 * and `status-list.refused` in the audit trail. Its view (`status()`) is the uplink status's `statusList`.
 * When to poll is the uplink's (./uplink.ts step).
 *
 * The sink's apply runs beside the polls (`applying`): a full list's build takes tens of seconds
 * (docs/benchmarks.md), and a poll that waited for it would hold the uplink's loop (uploads, heartbeats,
 * checkpoints) as long. One apply at a time: while one runs, a poll asks nothing and fetches nothing; its
 * outcome is recorded once, when it settles, and the uplink polls again then (./uplink.ts).
 */
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { JournalErrorCodes } from "../journal/errors.js";
import { type ListChange, listChangeOf } from "../status-list/apply-change.js";
import { isBundleRefusal, notAppliedWhy, StatusListErrors } from "../status-list/errors.js";
import { type Unmatched, unmatchedFields, unmatchedMessage } from "../status-list/import-message.js";
import { type AuditSink, appendSafe } from "./audit-sink.js";
import { BundleDownload } from "./bundle-download.js";
import { BundleFailures } from "./bundle-failures.js";
import type { BundleInfo, StationClient } from "./station-client.js";

type ListVersions = { full: string | null; delta: string | null };

/** What the uplink needs from the status-list cache (src/status-list implements it). */
export interface StatusListSink {
  versions(): { full: string | null; delta: string | null };
  /**
   * the downloaded, length- and SHA-256-checked bundle file; the uplink deletes it once applied or refused,
   * and keeps it for another try after the lane's own failure (./bundle-failures.ts). Answers what it
   * applied (the list's ApplyResult): its `obusNotDecimal` or `cardsNoNetwork`, when a number above 0,
   * makes the `status-list.applied` entry an alarm (`cardNoNetworkExample` names one such card); its
   * `versions` are the ones the entry says the lane holds after it (else `versions()`, read as it answers)
   */
  applyBundle(file: string): Promise<unknown>;
}

/** The uplink status's `statusList`. */
export interface StatusListStatus {
  full: string | null;
  delta: string | null;
  /**
   * the station said "nothing newer" at this time, its `latest` naming no newer version either (the list
   * is confirmed current)
   */
  confirmedAt: string | null;
  lastPollAt: string | null;
  bundlesApplied: number;
  /**
   * the bundle being downloaded, a few pages per poll (./bundle-download.ts); null: none (also once it is
   * in and being applied: `applying`)
   */
  download: { name: string; pages: number; pagesDone: number } | null;
  /** the bundle the sink is applying now (downloaded, its outcome not known yet); null: none */
  applying: string | null;
  /**
   * the last poll's failure, until a poll goes through: the station's (a bad manifest, a bad bundle, the
   * sink's refusal of the bundle itself) or, `local` true, the lane's own (E615: the download directory
   * cannot be written, the disk is full or too full for the bundle; or the sink failed to apply it for a
   * reason of the lane's, ./bundle-failures.ts; never counted against the station)
   */
  lastError: { code: string; message: string; at: string; local: boolean } | null;
}

export interface StatusListPollerDeps {
  sink: StatusListSink;
  client: Pick<StationClient, "manifest" | "bundlePage">;
  /** where bundles are downloaded */
  downloadDir: string;
  /** pages of a bundle per poll */
  pagesPerStep: number;
  /** the wall clock, for the times reported */
  now: () => number;
  log: Logger;
  audit?: AuditSink;
}

export class StatusListPoller {
  private readonly sl: StatusListStatus;
  private readonly downloads: BundleDownload;
  /** the bundle the sink did not apply, refused or to be tried again (./bundle-failures.ts) */
  private readonly failures = new BundleFailures();
  /** the sink's apply under way, resolving once its outcome is recorded (applyBeside); null: none */
  private apply: Promise<boolean> | null = null;
  /** the uplink stopped: no apply starts, and one the lane's close abandons is not the lane's failure */
  private stopped = false;

  constructor(private readonly d: StatusListPollerDeps) {
    this.downloads = new BundleDownload(d.downloadDir, d.client, d.log);
    this.sl = {
      ...d.sink.versions(),
      confirmedAt: null,
      lastPollAt: null,
      bundlesApplied: 0,
      download: null,
      applying: null,
      lastError: null,
    };
  }

  status(): StatusListStatus {
    return { ...this.sl };
  }

  /**
   * The sink's apply under way, resolving (never rejecting) once its outcome is recorded, to whether more
   * bundles wait (poll again at once), as a poll's answer; null: none.
   */
  get applying(): Promise<boolean> | null {
    return this.apply;
  }

  /**
   * The uplink stops: no apply starts after this; one under way goes on until it settles (the lane's close
   * abandons it, src/lane/status-list-applies.ts), and its abandonment (E512, the cache closed) is not
   * recorded as a failure of the lane's.
   */
  stop(): void {
    this.stopped = true;
  }

  /**
   * One poll. Returns true if more bundles are waiting (poll again at once). Throws when the station cannot
   * be reached (E611): a link failure like any other (tried again after the backoff, an upload batch first
   * if one waits). Anything else is noted in `lastError` and tried again at the next poll: the station's
   * (a bad manifest or one whose `latest` it offers no chain to, a bad bundle), or the lane's own (E615 from the download, or any error that is not an
   * EtcError: a local error, neither the station's `lastError` nor a failure for its breaker). A poll that
   * completes a bundle's download hands it to the sink and returns false at once: the apply goes on beside
   * (`applying`, whose answer replaces this one). While it does, a poll asks nothing and returns false.
   */
  async poll(): Promise<boolean> {
    if (this.apply) return false;
    try {
      return await this.pollOnce();
    } catch (e) {
      if (isEtcError(e) && e.code === JournalErrorCodes.StationUnreachable) throw e;
      this.pollFailed(e);
      return false;
    }
  }

  /** A poll or an apply failed (not E611): in `lastError` until a poll goes through. */
  private pollFailed(e: unknown): void {
    const local = !isEtcError(e) || e.code === JournalErrorCodes.StatusListLocal;
    const code = isEtcError(e) ? String(e.code) : JournalErrorCodes.StatusListLocal;
    const message = e instanceof Error ? e.message : String(e);
    this.sl.download = this.downloads.progress;
    this.sl.lastError = { code, message, at: new Date(this.d.now()).toISOString(), local };
    this.d.log.error({ code, err: message, local }, "status-list poll failed");
  }

  private async pollOnce(): Promise<boolean> {
    const sl = this.sl;
    const sink = this.d.sink;
    const held = sink.versions();
    const m = await this.d.client.manifest(held);
    sl.lastPollAt = new Date(this.d.now()).toISOString();
    const todo = [...(m.full ? [m.full] : []), ...m.deltas];
    const forgot = (f: { name: string }): void =>
      this.d.log.info({ failed: f.name, next: todo[0]?.name ?? null }, "the manifest changed");
    // lastError still names the failure; nothing fetched, nothing alarmed (./bundle-failures.ts)
    if (this.failures.holdsBack(todo[0], forgot)) return false;
    if (todo.length === 0) {
      await this.downloads.abandon();
      sl.download = null;
      Object.assign(sl, held);
      // "nothing newer" confirms the list only if the station's newest is not newer than it either
      const holds = held.delta ?? held.full;
      const newest = [m.latest.full, m.latest.delta].reduce<string | null>(
        (a, v) => (v !== null && (a === null || versionAfter(v, a)) ? v : a),
        null,
      );
      if (newest !== null && (holds === null || versionAfter(newest, holds)))
        throw new EtcError(
          JournalErrorCodes.StationProtocol,
          `status-list manifest: the station's latest is ${newest}, but it offers no chain from ` +
            `${holds ?? "no list"} (the lane's): the list is not confirmed current`,
        );
      sl.confirmedAt = sl.lastPollAt;
      sl.lastError = null;
      return false;
    }
    // one bundle per poll, and at most pagesPerStep of its pages: an upload batch may go between two
    // bundles of a chain and between two parts of a long bundle (./uplink.ts step); a failed page is asked
    // for again
    const b = todo[0]!;
    const file = await this.downloads.step(b, this.d.pagesPerStep); // E611 here counts as a station failure
    sl.download = this.downloads.progress;
    if (file === null) return true;
    if (this.stopped) {
      this.downloads.release(); // kept: the next start takes it up from its file
      return false;
    }
    this.applyBeside(b, file, { ...held });
    return false;
  }

  /**
   * Hands the downloaded bundle to the sink, beside the polls (`applying`); its outcome recorded once.
   * `asked`: the versions the manifest that offered it was asked with.
   */
  private applyBeside(b: BundleInfo, file: string, asked: ListVersions): void {
    // status only: the download's files are kept or removed by the outcome (applyNow)
    this.sl.download = null;
    this.sl.applying = b.name;
    this.apply = this.applyNow(b, file, asked)
      .catch((e: unknown) => {
        this.pollFailed(e);
        return false;
      })
      .finally(() => {
        this.sl.applying = null;
        this.apply = null;
      });
  }

  /**
   * The sink applies the bundle: its outcome recorded; true if more bundles may wait (poll at once).
   * `asked`: the versions the manifest that offered it was asked with (overtaken).
   */
  private async applyNow(b: BundleInfo, file: string, asked: ListVersions): Promise<boolean> {
    const sink = this.d.sink;
    const sl = this.sl;
    let applied: unknown;
    try {
      applied = await sink.applyBundle(file);
    } catch (e) {
      // read before any await: the lane's close may close the list meanwhile
      // (src/lane/status-list-applies.ts), and a closed list answers no versions
      const held = sink.versions();
      const change = listChangeOf(e);
      if (change) {
        await this.finishDownload();
        this.failures.clear();
        const { code, message } = errorOf(e);
        return this.changedThoughFailed(b, change, code, message, sl);
      }
      if (overtaken(e, asked, held)) {
        await this.finishDownload();
        this.failures.clear();
        Object.assign(sl, held);
        const { code, message } = errorOf(e);
        this.d.log.warn(
          { bundle: b.name, code, err: message, asked, versions: held },
          "status-list bundle overtaken by another apply (the lane's list moved since the manifest offered it): not applied, the manifest is asked again",
        );
        return true; // ask at once, with the versions the lane holds now
      }
      if (isBundleRefusal(e)) {
        await this.finishDownload();
        this.refused(b, e);
      } else if (this.stopped && isEtcError(e) && e.code === StatusListErrors.Closed) {
        // the lane's close abandoned it (src/lane/status-list-applies.ts): nothing applied, nothing
        // failed; the download is kept for the next start
        this.downloads.release();
        sl.download = null;
        this.d.log.warn(
          { bundle: b.name },
          "status-list bundle not applied: the lane stopped during its apply",
        );
      } else this.failedLocally(b, e); // the download is kept for the next try
      Object.assign(sl, held);
      return false;
    }
    // the versions the apply answered (else read now, before any await): the lane's close may close the
    // list while the download's files go, and a closed list answers no versions
    const versions = versionsOf(applied) ?? sink.versions();
    await this.finishDownload();
    this.failures.clear();
    sl.bundlesApplied++;
    Object.assign(sl, versions);
    this.d.log.info({ bundle: b.name, version: b.version }, "status-list bundle applied");
    const unmatched = unmatchedOf(applied);
    const why = unmatchedMessage(unmatched);
    appendSafe(this.d.audit, this.d.log, {
      type: "status-list.applied",
      severity: why !== null ? "alarm" : "info",
      message:
        why !== null
          ? `status-list ${b.kind} ${b.version} applied; ${why}`
          : `status-list ${b.kind} ${b.version} applied`,
      data: {
        bundle: b.name,
        kind: b.kind,
        version: b.version,
        bytes: b.bytes,
        source: "station",
        versions,
        ...unmatchedFields(unmatched),
      },
    });
    sl.lastError = null;
    return true; // ask again (the rest of the chain): the station says "nothing newer" once we are current
  }

  /** The bundle was applied or refused: its download goes. */
  private async finishDownload(): Promise<void> {
    await this.downloads.finish();
    this.sl.download = null;
  }

  /**
   * The sink refused the bundle itself (./bundle-failures.ts): not fetched again while the manifest offers
   * it first; its one `status-list.refused` alarm.
   */
  private refused(b: BundleInfo, e: unknown): void {
    const { code, message } = errorOf(e);
    this.failures.refused(b);
    this.sl.lastError = {
      code,
      message: `${b.name}: ${message}`,
      at: new Date(this.d.now()).toISOString(),
      local: false,
    };
    this.d.log.error({ bundle: b.name, code, err: message }, "status-list bundle refused by the sink");
    this.auditRefused(b, code, message, false);
  }

  /**
   * The lane failed to apply the bundle (./bundle-failures.ts: its disk or store, its worker, its clock):
   * the downloaded file is kept and the bundle tried again after a few polls, from that file (checked
   * again, ./bundle-download.ts release), not fetched from the station again; `lastError`
   * is `local`, and the first failure of a bundle is its one `status-list.refused` alarm (`local: true`).
   */
  private failedLocally(b: BundleInfo, e: unknown): void {
    const { code, message } = errorOf(e);
    const { failures, nextTryInPolls } = this.failures.failedLocally(b);
    this.downloads.release();
    this.sl.download = null;
    this.sl.lastError = {
      code,
      message: `${b.name}: ${message}`,
      at: new Date(this.d.now()).toISOString(),
      local: true,
    };
    this.d.log.error(
      { bundle: b.name, code, err: message, failures, nextTryInPolls },
      `status-list bundle not applied (${notAppliedWhy(code)}), tried again`,
    );
    if (failures === 1) this.auditRefused(b, code, message, true);
  }

  private auditRefused(b: BundleInfo, code: string, message: string, local: boolean): void {
    appendSafe(this.d.audit, this.d.log, {
      type: "status-list.refused",
      severity: "alarm",
      message: local
        ? `status-list bundle ${b.name} not applied (${notAppliedWhy(code)}; tried again): ${message}`
        : `status-list bundle ${b.name} refused: ${message}`,
      data: {
        bundle: b.name,
        kind: b.kind,
        version: b.version,
        code,
        reason: message,
        source: "station",
        ...(local ? { local: true } : {}),
      },
    });
  }

  /**
   * A job that failed but changed the list served all the same (src/status-list/apply-change.ts): a change
   * of the list, `status-list.applied` with the failure named, not a refusal; the next poll asks with the
   * versions the lane now holds.
   */
  private changedThoughFailed(
    b: { name: string; bytes: number },
    change: ListChange,
    code: string,
    message: string,
    sl: StatusListStatus,
  ): boolean {
    this.d.log.warn(
      { bundle: b.name, code, err: message, versions: change.versions },
      "status-list job failed but changed the list served",
    );
    appendSafe(this.d.audit, this.d.log, {
      type: "status-list.applied",
      severity: "warn",
      message: `status-list ${change.kind} ${change.version} applied, though its job failed: ${message}`,
      data: {
        bundle: b.name,
        kind: change.kind,
        version: change.version,
        bytes: b.bytes,
        source: "station",
        versions: change.versions,
        before: change.before,
        failure: { reason: message, code },
      },
    });
    sl.bundlesApplied++;
    Object.assign(sl, change.versions);
    return false;
  }
}

/**
 * The apply refused the bundle as not newer (E506) or not on the version held (E507), and the versions the
 * lane holds are no longer the ones the manifest that offered it was asked with (`asked`): another apply
 * moved the list during the download or while this one waited its turn (an operator's import through the
 * running lane, the demo's). Not the station's fault (the manifest was right when asked): no refusal
 * (docs/station-api.md "Status lists").
 */
function overtaken(e: unknown, asked: ListVersions, now: ListVersions): boolean {
  if (!isEtcError(e)) return false;
  if (e.code !== StatusListErrors.NotNewer && e.code !== StatusListErrors.NotChaining) return false;
  // a closed list answers no versions: that is no other apply
  return now.full !== null && (now.full !== asked.full || now.delta !== asked.delta);
}

/** Version `a` is after `b`: versions of digits compared as numbers (yyyyMMddhhmm), others as strings. */
function versionAfter(a: string, b: string): boolean {
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length !== b.length) return a.length > b.length;
  return a > b;
}

/** An error's code (E615, the lane's own, for one without a code) and message. */
function errorOf(e: unknown): { code: string; message: string } {
  return {
    code: isEtcError(e) ? String(e.code) : JournalErrorCodes.StatusListLocal,
    message: e instanceof Error ? e.message : String(e),
  };
}

/** The versions an apply answers (ApplyResult.versions); null when it answers none. */
function versionsOf(applied: unknown): { full: string | null; delta: string | null } | null {
  const v = (applied as { versions?: unknown } | null | undefined)?.versions as
    | { full?: unknown; delta?: unknown }
    | null
    | undefined;
  const ok = (x: unknown): x is string | null => x === null || typeof x === "string";
  return v && ok(v.full) && ok(v.delta) ? { full: v.full, delta: v.delta } : null;
}

/**
 * The entries matching nothing an apply reports (ApplyResult.obusNotDecimal, cardsNoNetwork and its
 * example), each 0 (or null) when it says none or gives no number.
 */
function unmatchedOf(applied: unknown): Unmatched {
  const r = applied as Partial<Record<keyof Unmatched, unknown>> | null | undefined;
  const count = (n: unknown): number => (typeof n === "number" && n > 0 ? n : 0);
  const example = r?.cardNoNetworkExample;
  return {
    obusNotDecimal: count(r?.obusNotDecimal),
    cardsNoNetwork: count(r?.cardsNoNetwork),
    cardNoNetworkExample: typeof example === "string" ? example : null,
  };
}
