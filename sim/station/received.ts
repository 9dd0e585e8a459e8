/**
 * What the station simulator holds of the lanes' uploads (docs/station-api.md): one record per trade id
 * (the first arrival is stored, a higher revision whose settlement names the record held replaces it, any
 * other arrival is counted, one refused as CONFLICT too, in `station_counters`), and the last heartbeat per lane. In SQLite: in memory, or a file committed with `synchronous = FULL`, since the
 * station answers only after its own durable commit and the lane then drops what it acknowledged.
 */
import type Database from "better-sqlite3";

export interface ReceivedRecord {
  tradeId: string;
  lane: string;
  seq: number;
  kind: string;
  /** the revision held (1 unless the lane changed the record, e.g. settled a suspect) */
  revision: number;
  /** how many times this trade id arrived, any revision (1 = never re-sent) */
  arrivals: number;
  /** arrivals that replaced the held record with a higher revision (a settled suspect: 1) */
  updates: number;
  firstReceivedAt: string;
  lastReceivedAt: string;
  record: unknown;
}

/** One record of an upload that passed the request checks (sim/station/upload.ts). */
export type UploadItem = { tradeId: string; seq: number; kind: string; revision: number; record: unknown };
/** What the station did with an item: the answer's `accepted[].status`. */
export type AcceptStatus = "stored" | "updated" | "duplicate";
/** An item the station will not take although well-formed: its revision is held with other content. */
export interface StoreConflict {
  tradeId: string;
  code: "CONFLICT";
  message: string;
}

type ReceivedRow = {
  trade_id: string;
  lane: string;
  seq: number;
  kind: string;
  revision: number;
  arrivals: number;
  updates: number;
  first_at: number;
  last_at: number;
  record: string;
};

/**
 * Why a higher revision `record` does not settle the record `held` (null: it does, it may replace it). A
 * lane changes a record only to settle a suspect (docs/journal.md "Settling a suspect"): the settled
 * revision keeps the suspect's `obuId` and `cardId` and names what it settled in
 * `extra.settlement.previous` (`kind`, `outcome`, `amount`, `revision`); a settlement that names other
 * than the record held is another lane's record under this trade id (docs/station-api.md "Upload
 * transactions"). Not `createdAt`, and an id only when both records have one: a suspect the lane rebuilt
 * from its audit trail (src/journal/rebuilt-suspect.ts) has the entry's time and may lack the OBU's id.
 */
function settlesAnother(
  held: { kind: string; revision: number; record: string },
  record: unknown,
): string | null {
  const was = JSON.parse(held.record) as Record<string, unknown>;
  const now = record as Record<string, unknown>;
  const extra = now.extra as { settlement?: { previous?: Record<string, unknown> } } | null | undefined;
  const prev = extra?.settlement?.previous;
  if (prev === null || typeof prev !== "object") return "it carries no extra.settlement.previous";
  const named: [string, unknown, unknown][] = [
    ["previous.revision", prev.revision, held.revision],
    ["previous.kind", prev.kind, held.kind],
    ["previous.outcome", prev.outcome, was.outcome],
    ["previous.amount", prev.amount, was.amount],
  ];
  for (const id of ["obuId", "cardId"])
    if (typeof now[id] === "string" && now[id] !== "" && typeof was[id] === "string" && was[id] !== "")
      named.push([id, now[id], was[id]]);
  const differ = named.filter(([, a, b]) => a !== b).map(([k]) => k);
  return differ.length === 0 ? null : `its ${differ.join(", ")} ${differ.length > 1 ? "differ" : "differs"}`;
}

/**
 * `v` as JSON with every object's keys in sorted order, at every depth: two records of the same content
 * give the same text whatever order their keys came in.
 */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x)).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export class ReceivedStore {
  private readonly insert: Database.Statement;
  private readonly held: Database.Statement;
  private readonly replace: Database.Statement;
  private readonly bump: Database.Statement;
  /** one transaction for an upload's items: the answer is sent only once all of them are committed */
  readonly store: (
    lane: string,
    items: UploadItem[],
  ) => { accepted: { tradeId: string; status: AcceptStatus }[]; conflicts: StoreConflict[] };
  private readonly countConflict: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    now: () => number = Date.now,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS received (
        trade_id TEXT PRIMARY KEY, lane TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        arrivals INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, record TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS heartbeats (lane TEXT PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS station_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO station_counters (name, value) VALUES ('conflicts', 0);
    `);
    // files written before revisions: every record they hold is revision 1
    const cols = (db.prepare("PRAGMA table_info(received)").all() as { name: string }[]).map((c) => c.name);
    if (!cols.includes("revision")) {
      db.exec(`
        ALTER TABLE received ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE received ADD COLUMN updates INTEGER NOT NULL DEFAULT 0;
      `);
    }
    this.insert = db.prepare(
      "INSERT OR IGNORE INTO received (trade_id, lane, seq, kind, revision, arrivals, updates, first_at, last_at, record) " +
        "VALUES (?,?,?,?,?,1,0,?,?,?)",
    );
    this.held = db.prepare("SELECT kind, revision, record FROM received WHERE trade_id = ?");
    this.replace = db.prepare(
      "UPDATE received SET seq = ?, kind = ?, revision = ?, record = ?, arrivals = arrivals + 1, " +
        "updates = updates + 1, last_at = ? WHERE trade_id = ?",
    );
    // arrivals refused as CONFLICT (not counted in `arrivals`: nothing was taken), kept with the records
    // so that a --db station counts them across restarts; a file from before the table gets it at 0
    this.countConflict = db.prepare("UPDATE station_counters SET value = value + 1 WHERE name = 'conflicts'");
    this.bump = db.prepare("UPDATE received SET arrivals = arrivals + 1, last_at = ? WHERE trade_id = ?");
    this.store = db.transaction((lane: string, items: UploadItem[]) => {
      const at = now();
      const accepted: { tradeId: string; status: AcceptStatus }[] = [];
      const conflicts: StoreConflict[] = [];
      for (const it of items) {
        const json = JSON.stringify(it.record);
        let status: AcceptStatus;
        if (this.insert.run(it.tradeId, lane, it.seq, it.kind, it.revision, at, at, json).changes === 1)
          status = "stored";
        else {
          const held = this.held.get(it.tradeId) as { kind: string; revision: number; record: string };
          if (it.revision > held.revision) {
            const other = settlesAnother(held, it.record);
            if (other !== null) {
              // another lane's record under this trade id (the one held, or the one settled): replacing it
              // would lose the one held unseen
              this.countConflict.run();
              conflicts.push({
                tradeId: it.tradeId,
                code: "CONFLICT",
                message: `revision ${it.revision} does not settle the record held at revision ${held.revision} (${other}): not stored`,
              });
              continue;
            }
            this.replace.run(it.seq, it.kind, it.revision, json, at, it.tradeId);
            status = "updated";
          } else if (
            it.revision === held.revision &&
            json !== held.record &&
            canonicalJson(it.record) !== canonicalJson(JSON.parse(held.record))
          ) {
            // the same trade at the same revision with other content (compared key order aside): a lane whose data directory was
            // put back from an older copy and then changed the record again, or two lanes under one lane
            // id. Acknowledging it as a re-send would drop it from that lane's queue unseen.
            this.countConflict.run();
            conflicts.push({
              tradeId: it.tradeId,
              code: "CONFLICT",
              message: `revision ${it.revision} of this trade id is held with other content: not stored`,
            });
            continue;
          } else {
            this.bump.run(at, it.tradeId);
            status = "duplicate";
          }
        }
        accepted.push({ tradeId: it.tradeId, status });
      }
      return { accepted, conflicts };
    });
  }

  /** Every record held, in the order of first arrival. */
  all(): ReceivedRecord[] {
    const rows = this.db
      .prepare(
        "SELECT trade_id, lane, seq, kind, revision, arrivals, updates, first_at, last_at, record FROM received ORDER BY rowid",
      )
      .all() as ReceivedRow[];
    return rows.map((r) => ({
      tradeId: r.trade_id,
      lane: r.lane,
      seq: r.seq,
      kind: r.kind,
      revision: r.revision,
      arrivals: r.arrivals,
      updates: r.updates,
      firstReceivedAt: new Date(r.first_at).toISOString(),
      lastReceivedAt: new Date(r.last_at).toISOString(),
      record: JSON.parse(r.record) as unknown,
    }));
  }

  /** Distinct trade ids, arrivals, the arrivals that changed nothing, and those that replaced a record. */
  counts(): { distinct: number; arrivals: number; duplicates: number; updates: number; conflicts: number } {
    const s = this.db
      .prepare(
        "SELECT COUNT(*) AS d, COALESCE(SUM(arrivals), 0) AS a, COALESCE(SUM(updates), 0) AS u FROM received",
      )
      .get() as { d: number; a: number; u: number };
    const c = this.db.prepare("SELECT value FROM station_counters WHERE name = 'conflicts'").get() as {
      value: number;
    };
    return {
      distinct: s.d,
      arrivals: s.a,
      duplicates: s.a - s.d - s.u,
      updates: s.u,
      conflicts: c.value,
    };
  }

  /**
   * Per lane, what its journal sequence numbers say (every record a lane commits takes the next `seq`, and
   * it uploads every one, in order): the seqs missing between the lowest and the highest received (a record
   * held by the lane for an operator, or one lost), and seqs received under more than one trade id (a lane
   * whose data directory was put back from an older copy numbers its records again). `missing` lists at
   * most `max` of them; `missingCount` counts them all.
   */
  gaps(
    max = 1000,
  ): Record<
    string,
    { lowest: number; highest: number; missingCount: number; missing: number[]; reused: number[] }
  > {
    const rows = this.db
      .prepare(
        "SELECT lane, seq, COUNT(DISTINCT trade_id) AS ids FROM received GROUP BY lane, seq ORDER BY lane, seq",
      )
      .all() as { lane: string; seq: number; ids: number }[];
    const out: ReturnType<ReceivedStore["gaps"]> = {};
    for (const r of rows) {
      let g = out[r.lane];
      if (!g) {
        g = { lowest: r.seq, highest: r.seq, missingCount: 0, missing: [], reused: [] };
        out[r.lane] = g;
      } else {
        // counted, not walked: one record with a huge seq must not hold the simulator's only thread
        g.missingCount += r.seq - g.highest - 1;
        for (let s = g.highest + 1; s < r.seq && g.missing.length < max; s++) g.missing.push(s);
        g.highest = r.seq;
      }
      if (r.ids > 1) g.reused.push(r.seq);
    }
    return out;
  }

  /** Keep a lane's last heartbeat body (already checked to be JSON). */
  heartbeat(lane: string, at: number, body: string): void {
    this.db.prepare("INSERT OR REPLACE INTO heartbeats (lane, at, body) VALUES (?,?,?)").run(lane, at, body);
  }

  /** The last heartbeat body per lane id. */
  heartbeats(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const r of this.db.prepare("SELECT lane, body FROM heartbeats").all() as {
      lane: string;
      body: string;
    }[]) {
      out[r.lane] = JSON.parse(r.body);
    }
    return out;
  }
}
