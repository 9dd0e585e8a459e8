/** The station simulator's SQLite database: received records and audit checkpoints. */
import Database from "better-sqlite3";

/** The file at `dbPath`, or an in-memory database without one. */
export function openStationDb(dbPath: string | undefined): Database.Database {
  const db = new Database(dbPath ?? ":memory:");
  if (dbPath) {
    db.pragma("journal_mode = WAL");
    // the station answers only after its own durable commit (docs/station-api.md): the lane drops what
    // it acknowledged from its outbox, so a power cut here must not lose it
    db.pragma("synchronous = FULL");
  }
  return db;
}
