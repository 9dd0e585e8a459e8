/**
 * Lane events for the audit trail: every kind the lane writes, its data and its severity, in one place.
 * `LaneEvents` turns a typed call into an entry on any sink with `append` (the AuditTrail; a test array).
 * Journal records are not events: they enter the trail through AuditTrail.bindRecord (./records.ts).
 */
import { readFileSync } from "node:fs";
import { digestOf, type FileDigest } from "../file-digest.js";
import { notAppliedWhy } from "../status-list/errors.js";
import { unmatchedMessage } from "../status-list/import-message.js";
import type { AuditEventInput, AuditSeverity } from "./entry.js";

export type { FileDigest } from "../file-digest.js";

/**
 * The digest of the file at `path` as it is now. The lane records the digest of the bytes it parsed
 * instead (src/config/load.ts readLaneConfig, src/tariff/tariff.ts Tariff.load).
 */
export function fileDigest(path: string): FileDigest {
  return digestOf(path, readFileSync(path));
}

export type LinkState = "up" | "down";

/**
 * Every event kind and its `data`. Kinds written by the trail itself (audit.*) are in ./trail.ts; operator
 * actions are `operator.<action>` entries written by src/service/operator-audit.ts.
 */
export interface LaneEventData {
  "lane.start": { version: string; pid: number; lane: string; role: string; config: FileDigest | null };
  "lane.stop": { reason: string };
  "lane.open": { detail?: string };
  "lane.closed": { reason: string; detail?: string };
  /**
   * `sameVersionAs`: the tariff the lane loaded before had this version and other bytes (src/lane/tariff-reuse.ts):
   * the entry is then at warn
   */
  "tariff.loaded": FileDigest & { version: string; sameVersionAs?: { path: string; sha256: string } };
  "rsu.link": { state: LinkState; reason?: string; port?: string };
  "reader.link": { state: LinkState; reason?: string; port?: string };
  /** the status service's HTTP side: down when service.listen cannot be bound, up once it is again */
  "service.http": { state: LinkState; listen: string; reason?: string; url?: string };
  "status-list.loaded": { full: string | null; delta: string | null };
  /**
   * source: "station" (the uplink) or "operator" (an import through the lane). `failure`: the job failed
   * but changed the list served all the same (src/status-list/apply-change.ts); kind and version are then
   * the change's, `before` the versions served before it. `obusNotDecimal`, only when there are any: the
   * bundle's OBU entries whose id has a digit A-F, which no lane matches (an alarm); `cardsNoNetwork` and
   * `cardNoNetworkExample` (the first), only when there are any: its card entries of network 0000, which
   * match no card (an alarm)
   */
  "status-list.applied": {
    kind: "full" | "delta";
    version: string;
    bundle?: string;
    bytes?: number;
    source?: string;
    versions?: { full: string | null; delta: string | null };
    before?: { full: string | null; delta: string | null };
    failure?: { reason: string; code?: string };
    obusNotDecimal?: number;
    cardsNoNetwork?: number;
    cardNoNetworkExample?: string;
  };
  /**
   * `local`: a bundle the lane failed to apply for its own reason, not refused for itself (one from the
   * station is tried again; src/uplink/bundle-failures.ts)
   */
  "status-list.refused": {
    bundle: string;
    kind?: string;
    version?: string;
    reason?: string;
    code?: string;
    source?: string;
    local?: true;
  };
  /** `read`: a read of the journal failed (a damaged file or an I/O error), not a write */
  "journal.error": { code: string; message: string; sqliteCode?: string; op?: string; read?: true };
  "journal.recovered": { lastSeq?: number };
  /** deleted journal record seqs as [from, to] ranges: `audit verify` accepts a missing row they cover */
  "journal.retention": { deleted: [number, number][]; count: number; cutoff: string };
  /**
   * the first journal record seq bound to the trail, written once, when the journal is first bound to it:
   * `audit verify` excuses a row without an audit seq only below it (the journal's own
   * meta.audit_bound_from is not trusted)
   */
  "journal.bound": { boundFrom: number; uploads?: UploadsBound };
  "disk.error": { path: string; message: string; code?: string };
  "uplink.state": { from: string; to: string; [k: string]: unknown };
  /**
   * records the station refused, taken out of the upload queue for an operator: `held` (the journal seqs
   * as [from, to] ranges) and `count` are written by the journal in the hold's own transaction
   * (src/journal/outbox.ts); an uplink without a bound journal writes the entry without them
   */
  "uplink.records-held": {
    tradeIds: (string | null)[];
    codes: string[];
    held?: [number, number][];
    count?: number;
  };
  /**
   * the upload state bound to the trail, for a journal whose journal.bound entry (which states it for a
   * journal bound from now on) was written by an earlier version (src/audit/journal-trail.ts)
   */
  "uplink.bound": UploadsBound;
  /**
   * the station's acknowledgement of an upload batch: the journal seqs that moved to `acks` (as [from, to]
   * ranges) and the acknowledgement's time, written by the journal in that move's own transaction
   */
  "uplink.acked": { acked: [number, number][]; count: number; at: string };
  /** held records put back into the upload queue (the operator's requeue), in that move's transaction */
  "uplink.records-requeued": { requeued: [number, number][]; count: number };
  /**
   * outbox rows whose journal record row is gone (journal.db edited or damaged) taken out of the upload
   * queue, in that move's transaction (src/journal/outbox.ts dropOrphans): the seqs as [from, to] ranges
   */
  "uplink.orphans-dropped": { dropped: [number, number][]; count: number };
  "lane.alarm": { code: string; [k: string]: unknown };
}

/**
 * The journal's upload state when it was bound to the trail, written once per journal: the records queued
 * and held then (journal seqs as [from, to] ranges); every other record with an entry before it had been
 * acknowledged. From then on each move commits its entry (uplink.acked, uplink.records-held,
 * uplink.records-requeued).
 */
export interface UploadsBound {
  queued: [number, number][];
  held: [number, number][];
  queuedCount: number;
  heldCount: number;
}

export type LaneEventKind = keyof LaneEventData;

/**
 * The card and OBU an event is about, in its data under the names the record entries use (cardId,
 * obuSerial, obuId): `etc-lane audit search --card/--obu`, its export and the page's search find the event
 * by them, and its CARD and OBU columns show them (src/audit/search.ts toRow). The lane's alarms about a
 * vehicle's debit (lane.alarm SUSPECT_*, CRASH_RECOVERY, ...) and the booth's recovery and settlement
 * entries carry them.
 */
export interface EntryIds {
  cardId?: string | null;
  obuSerial?: string | null;
  obuId?: string | null;
}

/** The ids of `ids` that are known (a null or empty one is left out), for an entry's data. */
export function idsData(ids: EntryIds | undefined): { cardId?: string; obuSerial?: string; obuId?: string } {
  const out: { cardId?: string; obuSerial?: string; obuId?: string } = {};
  if (ids?.cardId) out.cardId = ids.cardId;
  if (ids?.obuSerial) out.obuSerial = ids.obuSerial;
  if (ids?.obuId) out.obuId = ids.obuId;
  return out;
}

export const LANE_EVENT_KINDS: readonly LaneEventKind[] = [
  "lane.start",
  "lane.stop",
  "lane.open",
  "lane.closed",
  "tariff.loaded",
  "rsu.link",
  "reader.link",
  "service.http",
  "status-list.loaded",
  "status-list.applied",
  "status-list.refused",
  "journal.error",
  "journal.recovered",
  "journal.retention",
  "journal.bound",
  "disk.error",
  "uplink.state",
  "uplink.records-held",
  "uplink.bound",
  "uplink.acked",
  "uplink.records-requeued",
  "uplink.orphans-dropped",
  "lane.alarm",
];

/** The `journal.bound` entry (src/audit/journal-trail.ts writes it once per journal). */
export function journalBoundEvent(d: LaneEventData["journal.bound"]): AuditEventInput {
  return {
    type: "journal.bound",
    severity: "info",
    message:
      `journal records from seq ${d.boundFrom} on are bound to the audit trail` +
      (d.uploads ? `, and their upload state (${uploadsText(d.uploads)})` : ""),
    data: d,
  };
}

/**
 * The `journal.retention` entry of one retention batch: the journal writes it through
 * AuditTrail.bindEvent in the batch's own transaction (src/journal/upkeep.ts).
 */
export function journalRetentionEvent(d: LaneEventData["journal.retention"]): AuditEventInput {
  const ranges = rangesText(d.deleted);
  return {
    type: "journal.retention",
    severity: "info",
    message: `journal retention deleted ${d.count} record(s) acknowledged before ${d.cutoff} (seq ${ranges})`,
    data: d,
  };
}

/** `1-5, 8` for [[1, 5], [8, 8]] (the messages of the entries that name journal seqs). */
export function rangesText(ranges: readonly [number, number][]): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ");
}

const uploadsText = (u: UploadsBound): string =>
  `${u.queuedCount} record(s) queued, ${u.heldCount} held, every other one acknowledged`;

/**
 * The `uplink.bound` entry: written once per journal by src/audit/journal-trail.ts when its journal.bound
 * entry was written without the upload state (an earlier version), in one transaction with journal.db's
 * marker.
 */
export function uplinkBoundEvent(d: UploadsBound): AuditEventInput {
  return {
    type: "uplink.bound",
    severity: "info",
    message: `journal upload state bound to the audit trail: ${uploadsText(d)}`,
    data: d,
  };
}

/**
 * The `uplink.acked` entry of one acknowledged upload batch: the journal writes it through
 * AuditTrail.bindEvent in the transaction that moves the records to `acks` (src/journal/outbox.ts).
 */
export function uplinkAckedEvent(d: LaneEventData["uplink.acked"]): AuditEventInput {
  return {
    type: "uplink.acked",
    severity: "info",
    message: `station acknowledged ${d.count} record(s) at ${d.at} (seq ${rangesText(d.acked)})`,
    data: d,
  };
}

/**
 * What the station did to the records a hold takes out of the queue, by their hold codes
 * (docs/station-api.md "A batch the station does not take"): "refused" them (named in `rejected`, or the
 * request carrying one alone refused, HTTP_400, HTTP_413), "failed on" them (HTTP_500 while it answered
 * other requests), "did not answer in time for" them (TIMEOUT); a mix names each, joined by "or".
 */
export function heldHow(codes: readonly string[]): string {
  const failed = codes.some((c) => /^HTTP_5\d\d$/.test(c));
  const late = codes.includes("TIMEOUT");
  const refused = codes.some((c) => c !== "TIMEOUT" && !/^HTTP_5\d\d$/.test(c));
  const how = [
    refused ? "refused" : null,
    failed ? "failed on" : null,
    late ? "did not answer in time for" : null,
  ].filter((x) => x !== null);
  return how.length === 0 ? "refused" : how.join(" or ");
}

/**
 * The `uplink.records-held` entry as the journal writes it, in the hold's own transaction
 * (src/journal/outbox.ts): an alarm, as the uplink's was.
 */
export function uplinkRecordsHeldEvent(
  d: Required<LaneEventData["uplink.records-held"]>,
  first: { tradeId: string; code: string },
): AuditEventInput {
  return {
    type: "uplink.records-held",
    severity: "alarm",
    message:
      `station ${heldHow(d.codes)} ${d.count} record(s); held for an operator (first ${first.tradeId}: ${first.code}; ` +
      `seq ${rangesText(d.held)})`,
    data: d,
  };
}

/** The `uplink.records-requeued` entry, in the requeue's own transaction (src/journal/outbox.ts). */
export function uplinkRequeuedEvent(d: LaneEventData["uplink.records-requeued"]): AuditEventInput {
  return {
    type: "uplink.records-requeued",
    severity: "info",
    message: `${d.count} held record(s) back in the upload queue (seq ${rangesText(d.requeued)})`,
    data: d,
  };
}

/**
 * The `uplink.orphans-dropped` alarm, in the drop's own transaction (src/journal/outbox.ts dropOrphans):
 * records queued for the station whose rows someone deleted from journal.db; `audit verify` names each
 * deleted row by its record's entry.
 */
export function uplinkOrphansDroppedEvent(d: LaneEventData["uplink.orphans-dropped"]): AuditEventInput {
  return {
    type: "uplink.orphans-dropped",
    severity: "alarm",
    message:
      `${d.count} upload queue row(s) with no journal record taken out of the queue (seq ${rangesText(d.dropped)}): ` +
      "the record rows are gone from journal.db (edited or damaged)",
    data: d,
  };
}

export interface AuditAppender {
  append(e: AuditEventInput): unknown;
}

const short = (h: string): string => h.slice(0, 12);

/** Typed constructors over any appender. Each method returns what the appender returned. */
export class LaneEvents {
  constructor(private readonly sink: AuditAppender) {}

  private emit<K extends LaneEventKind>(
    type: K,
    severity: AuditSeverity,
    message: string,
    data: LaneEventData[K],
  ): unknown {
    return this.sink.append({ type, severity, message, data });
  }

  laneStarted(d: LaneEventData["lane.start"]): unknown {
    const cfg = d.config ? ` with ${d.config.path} (sha256 ${short(d.config.sha256)})` : "";
    return this.emit(
      "lane.start",
      "info",
      `lane ${d.lane} (${d.role}) started, version ${d.version}${cfg}`,
      d,
    );
  }
  laneStopped(reason: string): unknown {
    return this.emit("lane.stop", "info", `lane stopped: ${reason}`, { reason });
  }
  laneOpened(detail?: string): unknown {
    return this.emit(
      "lane.open",
      "info",
      `lane open${detail ? `: ${detail}` : ""}`,
      detail ? { detail } : {},
    );
  }
  /** `severity` defaults to alarm (info for a stop); the lane passes warn while it has not opened yet */
  laneClosed(reason: string, detail?: string, severity?: AuditSeverity): unknown {
    return this.emit(
      "lane.closed",
      severity ?? (reason === "stopped" ? "info" : "alarm"),
      `lane closed: ${reason}${detail ? ` (${detail})` : ""}`,
      {
        reason,
        ...(detail ? { detail } : {}),
      },
    );
  }
  tariffLoaded(f: FileDigest, version: string, sameVersionAs?: { path: string; sha256: string }): unknown {
    const other = sameVersionAs
      ? `; the tariff loaded before had the same version and other bytes (${sameVersionAs.path}, sha256 ${short(sameVersionAs.sha256)})`
      : "";
    return this.emit(
      "tariff.loaded",
      sameVersionAs ? "warn" : "info",
      `tariff ${version} loaded from ${f.path} (sha256 ${short(f.sha256)})${other}`,
      {
        ...f,
        version,
        ...(sameVersionAs
          ? { sameVersionAs: { path: sameVersionAs.path, sha256: sameVersionAs.sha256 } }
          : {}),
      },
    );
  }
  rsuLink(state: LinkState, reason?: string, port?: string): unknown {
    return this.emit(
      "rsu.link",
      state === "up" ? "info" : "alarm",
      `RSU link ${state}${reason ? `: ${reason}` : ""}`,
      {
        state,
        ...(reason ? { reason } : {}),
        ...(port ? { port } : {}),
      },
    );
  }
  readerLink(state: LinkState, reason?: string, port?: string): unknown {
    return this.emit(
      "reader.link",
      state === "up" ? "info" : "alarm",
      `card reader link ${state}${reason ? `: ${reason}` : ""}`,
      { state, ...(reason ? { reason } : {}), ...(port ? { port } : {}) },
    );
  }
  /** `detail`: why it cannot listen (down), or the URL it listens at (up) */
  serviceHttp(state: LinkState, listen: string, detail: string): unknown {
    return this.emit(
      "service.http",
      state === "up" ? "info" : "alarm",
      state === "up" ? `lane status service listening at ${detail}` : detail,
      { state, listen, ...(state === "up" ? { url: detail } : { reason: detail }) },
    );
  }
  statusListLoaded(v: { full: string | null; delta: string | null }): unknown {
    return this.emit(
      "status-list.loaded",
      v.full ? "info" : "alarm",
      v.full ? `status list loaded: full ${v.full}, delta ${v.delta ?? "none"}` : "no status list loaded",
      v,
    );
  }
  statusListApplied(d: LaneEventData["status-list.applied"]): unknown {
    if (d.failure)
      return this.emit(
        "status-list.applied",
        "warn",
        `status-list ${d.kind} ${d.version} applied, though its job failed: ${d.failure.reason}`,
        d,
      );
    const unmatched = unmatchedMessage(d);
    if (unmatched !== null)
      return this.emit(
        "status-list.applied",
        "alarm",
        `status-list ${d.kind} ${d.version} applied; ${unmatched}`,
        d,
      );
    return this.emit("status-list.applied", "info", `status-list ${d.kind} ${d.version} applied`, d);
  }
  statusListRefused(d: LaneEventData["status-list.refused"]): unknown {
    return this.emit(
      "status-list.refused",
      "alarm",
      `status-list bundle ${d.bundle} ${d.local ? `not applied (${notAppliedWhy(d.code)})` : "refused"}: ${d.reason ?? d.code ?? "?"}`,
      d,
    );
  }
  journalError(d: LaneEventData["journal.error"]): unknown {
    return this.emit(
      "journal.error",
      "alarm",
      `journal ${d.read ? "read" : "write"} failed: ${d.message}`,
      d,
    );
  }
  journalRecovered(lastSeq?: number): unknown {
    return this.emit(
      "journal.recovered",
      "info",
      "journal healthy again",
      lastSeq === undefined ? {} : { lastSeq },
    );
  }
  /** Written by the journal itself, inside each retention batch (journalRetentionEvent, bindEvent). */
  journalRetention(d: LaneEventData["journal.retention"]): unknown {
    return this.sink.append(journalRetentionEvent(d));
  }
  diskError(d: LaneEventData["disk.error"]): unknown {
    return this.emit("disk.error", "alarm", `disk error on ${d.path}: ${d.message}`, d);
  }
  alarm(code: string, message: string, data: Record<string, unknown> = {}): unknown {
    return this.emit("lane.alarm", "alarm", message, { ...data, code });
  }
}
