/**
 * The station as witness of each lane's audit trail (docs/audit.md, "The station as witness"; the role
 * C2SP tlog-witness describes). Per lane it keeps the last checkpoint and the lane's public key (pinned
 * at the first checkpoint it sees), plus the hashes of the recent ones so a re-sent batch is recognised.
 * A checkpoint is stored only if it extends the last: number last + 1 and `prev` = the hash of the last.
 * Anything else is refused with 409 and the station's current checkpoint: the lane's data directory was
 * replaced by an older copy, or its trail was re-sealed. A bad signature or a malformed body is 422/400.
 * Every decision is committed in one SQLite transaction per request.
 */
import type Database from "better-sqlite3";
import {
  type CheckpointStatement,
  checkpointHash,
  keyIdOf,
  publicKeyFromPem,
  type SignedCheckpoint,
  statementProblem,
  verifyStatement,
} from "../../src/audit/checkpoint.js";
import { errorBody } from "./http.js";

/** How many recent checkpoint hashes per lane are kept to recognise a re-sent batch. */
const HISTORY = 1000;

export interface WitnessedCheckpoint {
  lane: string;
  n: number;
  hash: string;
  checkpoint: CheckpointStatement;
  sig: string;
  keyId: string;
  at: string;
}

export interface WitnessAnswer {
  status: number;
  body: unknown;
}

interface Row {
  lane: string;
  n: number;
  hash: string;
  statement: string;
  sig: string;
  public_key: string;
  key_id: string;
  at: number;
}

export class AuditWitness {
  private readonly getRow: Database.Statement<[string], Row>;
  private readonly putRow: Database.Statement;
  private readonly getHist: Database.Statement<[string, number], { hash: string }>;
  private readonly putHist: Database.Statement;
  private readonly trimHist: Database.Statement;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS audit_witness (
        lane TEXT PRIMARY KEY, n INTEGER NOT NULL, hash TEXT NOT NULL, statement TEXT NOT NULL, sig TEXT NOT NULL,
        public_key TEXT NOT NULL, key_id TEXT NOT NULL, at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS audit_witness_history (
        lane TEXT NOT NULL, n INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (lane, n)
      ) WITHOUT ROWID;
    `);
    this.getRow = db.prepare("SELECT * FROM audit_witness WHERE lane = ?") as Database.Statement<
      [string],
      Row
    >;
    this.putRow = db.prepare(
      "INSERT OR REPLACE INTO audit_witness (lane, n, hash, statement, sig, public_key, key_id, at) VALUES (?,?,?,?,?,?,?,?)",
    );
    this.getHist = db.prepare(
      "SELECT hash FROM audit_witness_history WHERE lane = ? AND n = ?",
    ) as Database.Statement<[string, number], { hash: string }>;
    this.putHist = db.prepare("INSERT OR REPLACE INTO audit_witness_history (lane, n, hash) VALUES (?,?,?)");
    this.trimHist = db.prepare("DELETE FROM audit_witness_history WHERE lane = ? AND n <= ?");
  }

  /** POST /api/v1/lanes/{laneId}/audit-checkpoints with `{ publicKey, checkpoints: [...] }`. */
  submit(laneId: string, raw: Buffer): WitnessAnswer {
    let body: { publicKey?: unknown; checkpoints?: unknown } | null;
    try {
      body = JSON.parse(raw.toString("utf8")) as typeof body;
    } catch {
      return bad(400, "body is not JSON");
    }
    if (
      typeof body !== "object" ||
      body === null ||
      typeof body.publicKey !== "string" ||
      !Array.isArray(body.checkpoints) ||
      body.checkpoints.length === 0
    )
      return bad(400, "expected { publicKey: PEM, checkpoints: [ { checkpoint, sig }, ... ] }");
    let key: ReturnType<typeof publicKeyFromPem>;
    try {
      key = publicKeyFromPem(body.publicKey, "publicKey");
    } catch (e) {
      return bad(422, (e as Error).message);
    }
    const keyId = keyIdOf(key);
    const cps = body.checkpoints as SignedCheckpoint[];
    for (const cp of cps) {
      const p = statementProblem(cp?.checkpoint);
      if (p) return bad(422, `checkpoint: ${p}`);
      if (typeof cp.sig !== "string") return bad(422, `checkpoint #${cp.checkpoint.n}: no signature`);
      if (cp.checkpoint.lane !== laneId)
        return bad(422, `checkpoint #${cp.checkpoint.n} names lane ${cp.checkpoint.lane}`);
      if (cp.checkpoint.keyId !== keyId)
        return bad(422, `checkpoint #${cp.checkpoint.n} names key ${cp.checkpoint.keyId}, not the key sent`);
      if (!verifyStatement(cp, key))
        return bad(422, `checkpoint #${cp.checkpoint.n}: the signature does not verify`);
    }
    const tx = this.db.transaction((): WitnessAnswer => {
      const accepted: { n: number; status: "stored" | "duplicate" }[] = [];
      const now = Date.now();
      for (const cp of cps) {
        const s = cp.checkpoint;
        const hash = checkpointHash(s);
        const cur = this.getRow.get(laneId);
        if (cur && cur.key_id !== keyId)
          return this.conflict(
            cur,
            accepted,
            `checkpoint #${s.n} is signed with key ${keyId}; this lane's key is ${cur.key_id}`,
          );
        if (cur && s.n <= cur.n) {
          const known = s.n === cur.n ? cur.hash : this.getHist.get(laneId, s.n)?.hash;
          if (known === hash) {
            accepted.push({ n: s.n, status: "duplicate" });
            continue;
          }
          return this.conflict(
            cur,
            accepted,
            `checkpoint #${s.n} is not the #${s.n} this station holds, or is older than #${cur.n}: a rolled-back or re-sealed trail`,
          );
        }
        if (cur && (s.n !== cur.n + 1 || s.prev !== cur.hash))
          return this.conflict(
            cur,
            accepted,
            s.n !== cur.n + 1
              ? `checkpoint #${s.n} does not follow #${cur.n}`
              : `checkpoint #${s.n} does not name #${cur.n} as its predecessor (a fork)`,
          );
        // its range must continue the last one's (from = last.to + 1; statementProblem has to >= from): a
        // checkpoint restating seqs the last one sealed is a trail cut back behind it
        const lastTo = cur ? (JSON.parse(cur.statement) as CheckpointStatement).to : null;
        if (lastTo !== null && s.from !== lastTo + 1)
          return this.conflict(
            cur!,
            accepted,
            `checkpoint #${s.n} covers seq ${s.from}..${s.to}, which does not continue #${cur!.n}'s range (..${lastTo})`,
          );
        this.putRow.run(laneId, s.n, hash, JSON.stringify(s), cp.sig, body.publicKey as string, keyId, now);
        this.putHist.run(laneId, s.n, hash);
        this.trimHist.run(laneId, s.n - HISTORY);
        accepted.push({ n: s.n, status: "stored" });
      }
      const cur = this.getRow.get(laneId)!;
      return { status: 200, body: { accepted, current: { n: cur.n, hash: cur.hash } } };
    });
    return tx();
  }

  private conflict(cur: Row, accepted: unknown[], message: string): WitnessAnswer {
    return {
      status: 409,
      body: {
        error: "AUDIT_CHECKPOINT_CONFLICT",
        message,
        accepted,
        current: {
          checkpoint: JSON.parse(cur.statement) as CheckpointStatement,
          sig: cur.sig,
          hash: cur.hash,
        },
      },
    };
  }

  /** GET .../audit-checkpoints/latest */
  latest(laneId: string): WitnessAnswer {
    const cur = this.getRow.get(laneId);
    if (!cur) return bad(404, `no checkpoint from lane ${laneId}`);
    return {
      status: 200,
      body: { checkpoint: JSON.parse(cur.statement) as CheckpointStatement, sig: cur.sig, hash: cur.hash },
    };
  }

  /** What the station holds per lane (tests, the admin page). */
  all(): Record<string, WitnessedCheckpoint> {
    const out: Record<string, WitnessedCheckpoint> = {};
    for (const r of this.db.prepare("SELECT * FROM audit_witness").all() as Row[]) {
      out[r.lane] = {
        lane: r.lane,
        n: r.n,
        hash: r.hash,
        checkpoint: JSON.parse(r.statement) as CheckpointStatement,
        sig: r.sig,
        keyId: r.key_id,
        at: new Date(r.at).toISOString(),
      };
    }
    return out;
  }

  /** An operator retires a lane's record (after a restore they accept): the next checkpoint starts anew. */
  reset(laneId: string): void {
    this.db.prepare("DELETE FROM audit_witness WHERE lane = ?").run(laneId);
    this.db.prepare("DELETE FROM audit_witness_history WHERE lane = ?").run(laneId);
  }
}

function bad(status: 400 | 404 | 422, message: string): WitnessAnswer {
  return { status, body: errorBody(status, message) };
}
