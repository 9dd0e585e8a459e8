/**
 * A fake lane behind the service's two ports: a snapshot the test changes, vehicles it makes pass (each
 * one a feed event, a "last transaction" and a trail row), a trail searched with simple filters of its own
 * (exact plate, card and OBU; not the lane's, src/audit/search.ts `matches`: search-real-trail.test.ts
 * compares the page's search with `etc-lane audit search` over a real trail), and an operator that records
 * what it was asked. The real lane runtime implements the same ports.
 */

import { Subject } from "rxjs";
import type { OperatorSettleRequest } from "../../src/lane/operator-settlement.js";
import type {
  ImportProgress,
  LaneFeedEvent,
  LaneOperator,
  LaneSnapshot,
  LaneView,
  OperatorResult,
  OperatorUser,
  TrailQuery,
  TrailRow,
  TrailSearchResult,
  VehicleRecordView,
  VerifyView,
} from "../../src/service/lane-view.js";

export const T0 = Date.UTC(2026, 10, 26, 0, 0, 0); // 2026-11-26 08:00:00 at +08:00

export function baseSnapshot(at = T0): LaneSnapshot {
  return {
    v: 1,
    at,
    lane: { network: "4301", station: "0102", lane: 3, role: "exit", utcOffsetMinutes: 480 },
    state: {
      status: "open",
      canTrade: true,
      reason: null,
      detail: "RSU 01 v1.0",
      since: at - 3_600_000,
      operatorClosed: null,
    },
    rsu: {
      status: "up",
      reason: null,
      since: at - 3_600_000,
      counters: {
        framesIn: 1200,
        framesOut: 1100,
        bytesIn: 90_000,
        bytesOut: 40_000,
        discardedBytes: 3,
        checksumErrors: 1,
        decodeErrors: 0,
        duplicates: 4,
        autoAcks: 0,
        reconnects: 1,
      },
      device: { rsuId: "01", version: "1.0", psams: [{ terminalId: "010203040506", authorised: true }] },
    },
    reader: null,
    counters: { frames: 1200, vehicles: 300, transactions: 290, stops: 8, suspects: 2 },
    inFlight: [],
    statusList: {
      state: "ok",
      reason: "current",
      versions: { full: "202611260000", delta: "202611260755" },
      ages: { fullMs: 8 * 3_600_000, deltaMs: 5 * 60_000 },
      appliedAt: at - 5 * 60_000,
      counts: { cards: 20_000_000, obus: 10_000_000 },
      cardsNoNetwork: 2,
      download: null,
      applying: null,
    },
    uplink: {
      state: "online",
      queueDepth: 3,
      held: 0,
      oldestPendingAgeMs: 1200,
      batch: { size: 500, max: 500 },
      lastSuccessAt: at - 2000,
      lastError: null,
    },
    journal: {
      healthy: true,
      error: null,
      lastSeq: 300,
      lastCommitMs: 1.2,
      keptBehindTrail: { suspects: [], intents: [] },
    },
    booth: {
      cases: [
        {
          id: "b1",
          openedAt: at - 60_000,
          kind: "suspect-debit",
          reason: "B5_MISSING",
          detail: "扣款结果未知，请核实",
          obuId: "0a0b0c0d",
          cardId: "43010000000000009001",
          plate: "湘A12345",
          seq: 299,
        },
      ],
      desk: {
        screen: { step: "READY", text: "请放卡", detail: "", caseId: null, at: at - 5000 },
        counters: { transactions: 7, refusals: 1, recoveries: 1, cancelled: 0 },
        recovering: 0,
        readerUnfit: null,
        lastTiming: { totalMs: 51.2, readerMs: 48.9, laneMs: 2.3, commitMs: 1.1 },
      },
    },
    lastTransactions: [],
    process: {
      pid: 4242,
      startedAt: at - 7_200_000,
      uptimeMs: 7_200_000,
      node: "v20.20.2",
      rssBytes: 1e8,
      heapUsedBytes: 5e7,
    },
    clock: { skewToStationMs: -35, measuredAt: at - 10_000 },
    audit: { lastSeq: 1234, lastCheckpoint: { n: 12, at: at - 30_000, to: 1200 } },
    outputs: { failing: [], failures: 0, last: null },
    capture: null,
  };
}

export interface PassOptions {
  kind?: VehicleRecordView["kind"];
  outcome?: string;
  cardId?: string | null;
  plate?: string | null;
  amount?: number;
  decisionMs?: number;
  at?: number;
}

export class FakeLane implements LaneView {
  state: LaneSnapshot = baseSnapshot();
  readonly feed = new Subject<LaneFeedEvent>();
  readonly events$ = this.feed.asObservable();
  readonly trail: TrailRow[] = [];
  verify: VerifyView | null = null;
  private seq = 1000;
  private trailSeq = 5000;
  searches: TrailQuery[] = [];

  snapshot(): LaneSnapshot {
    return this.state;
  }

  lastVerify(): VerifyView | null {
    return this.verify;
  }

  searchTrail(q: TrailQuery): TrailSearchResult {
    this.searches.push(q);
    const m = this.trail.filter(
      (r) =>
        (q.since === undefined || r.at >= q.since) &&
        (q.until === undefined || r.at < q.until) &&
        (q.card === undefined || r.cardId === q.card) &&
        (q.obu === undefined || r.obuId === q.obu) &&
        (q.plate === undefined || r.plate === q.plate) &&
        (q.reason === undefined || r.outcome === q.reason) &&
        (q.kind === undefined || r.type === q.kind || r.type.startsWith(`${q.kind}.`)),
    );
    const newest = m.slice(-q.limit).reverse();
    return { rows: newest, truncated: m.length > q.limit };
  }

  /** One vehicle passes: a feed event, a last transaction and a trail row. Returns its record. */
  pass(o: PassOptions = {}): VehicleRecordView {
    const seq = ++this.seq;
    const at = o.at ?? this.state.at + (seq - 1000) * 1000;
    const rec: VehicleRecordView = {
      seq,
      path: "dsrc",
      tradeId: `430101020320261126080000${String(seq).padStart(6, "0")}`,
      at,
      kind: o.kind ?? "transaction",
      outcome: o.outcome ?? "EXIT_DEBIT",
      obuId: (0x0a000000 + seq).toString(16).padStart(8, "0"),
      obuSerial: `43010000${String(seq).padStart(8, "0")}`,
      cardId: o.cardId === undefined ? `4301000000${String(seq).padStart(10, "0")}` : o.cardId,
      plate: o.plate === undefined ? `湘A${String(seq).padStart(5, "0")}` : o.plate,
      vehicleClass: 1,
      amount: o.kind === "stop" ? 0 : (o.amount ?? 1250),
      decisionMs: o.decisionMs ?? 0.4,
    };
    this.state = {
      ...this.state,
      counters: { ...this.state.counters, vehicles: (this.state.counters.vehicles ?? 0) + 1 },
      lastTransactions: [rec, ...this.state.lastTransactions].slice(0, 20),
      journal: { ...this.state.journal, lastSeq: seq },
    };
    this.trail.push({
      seq: ++this.trailSeq,
      at,
      type: rec.kind,
      severity: rec.kind === "transaction" ? "info" : "warn",
      message: `${rec.kind} ${rec.outcome}`,
      outcome: rec.outcome,
      cardId: rec.cardId,
      obuId: rec.obuId,
      plate: rec.plate,
      amount: rec.amount,
      tradeId: rec.tradeId,
    });
    this.feed.next({
      type: "vehicle",
      at,
      record: rec,
      stages: { b2c1: 0.3, b4c6: 0.5, b5Barrier: 1.5 },
      commitMs: 1.1,
    });
    return rec;
  }

  /**
   * A vehicle finished before settled later (a late B5 or B8, by hand): its row among the last
   * transactions replaced in place, and the settlement event. Returns the settled record.
   */
  settle(
    r: VehicleRecordView,
    to: Pick<VehicleRecordView, "kind" | "outcome">,
    settledBy = "b5",
  ): VehicleRecordView {
    const record: VehicleRecordView = { ...r, ...to, amount: to.kind === "stop" ? 0 : r.amount };
    this.state = {
      ...this.state,
      lastTransactions: this.state.lastTransactions.map((x) => (x.seq === r.seq ? record : x)),
    };
    this.feed.next({ type: "settlement", at: r.at + 5000, record, settledBy });
    return record;
  }

  /** The lane closes (or opens) with a reason: snapshot and feed event. */
  setState(status: LaneSnapshot["state"]["status"], reason: string | null, detail: string): void {
    const canTrade = status === "open";
    this.state = {
      ...this.state,
      state: { ...this.state.state, status, canTrade, reason, detail, since: this.state.at },
    };
    this.feed.next({ type: "lane", at: this.state.at, status, canTrade, reason, detail });
  }
}

export interface OperatorCall {
  action: string;
  user: OperatorUser;
  args: Record<string, unknown>;
}

/** An operator that records its calls and answers as told. */
export class FakeOperator implements LaneOperator {
  readonly calls: OperatorCall[] = [];
  fail: Error | null = null;

  constructor(private readonly lane?: FakeLane) {}

  private async done(action: string, user: OperatorUser, args: Record<string, unknown>, r: OperatorResult) {
    this.calls.push({ action, user, args });
    if (this.fail) throw this.fail;
    return r;
  }

  openLane(user: OperatorUser): Promise<OperatorResult> {
    this.lane?.setState("open", null, "opened by operator");
    return this.done("lane.open", user, {}, { ok: true, message: "lane opening (RSU up)" });
  }
  closeLane(user: OperatorUser, reason: string): Promise<OperatorResult> {
    this.lane?.setState("closed", "operator", `closed by operator ${user.name}: ${reason}`);
    return this.done("lane.close", user, { reason }, { ok: true, message: "lane closed" });
  }
  async importStatusList(
    file: string,
    user: OperatorUser,
    onProgress?: (p: ImportProgress) => void,
  ): Promise<OperatorResult> {
    onProgress?.({ phase: "verify", done: 1, total: 2 });
    onProgress?.({ phase: "apply", done: 2, total: 2 });
    return this.done(
      "status-list.import",
      user,
      { file },
      {
        ok: true,
        message: "delta 202611260800 applied",
        data: { kind: "delta", version: "202611260800", adds: 10, removes: 2 },
      },
    );
  }
  requeueHeld(user: OperatorUser): Promise<OperatorResult> {
    return this.done(
      "journal.requeue-held",
      user,
      {},
      { ok: true, message: "2 held records requeued", data: { requeued: 2 } },
    );
  }
  runRetention(user: OperatorUser): Promise<OperatorResult> {
    return this.done(
      "journal.retention",
      user,
      {},
      { ok: true, message: "retention: 0 records deleted", data: { deleted: 0 } },
    );
  }
  settleSuspect(req: OperatorSettleRequest, user: OperatorUser): Promise<OperatorResult> {
    return this.done(
      "journal.settle",
      user,
      { ...req },
      { ok: true, message: `suspect ${req.seq} settled`, data: { seq: req.seq } },
    );
  }
}

/** An audit port that keeps what was appended. */
export class MemoryAudit {
  readonly entries: { type: string; severity: string; message: string; data?: Record<string, unknown> }[] =
    [];
  append(e: {
    type: string;
    severity: "info" | "warn" | "alarm";
    message: string;
    data?: Record<string, unknown>;
  }) {
    this.entries.push(e);
    return e;
  }
}
