/**
 * `audit verify` without --key names why the key beside the log cannot be used: "missing" only when there
 * is no such file (ENOENT); any other error (a directory in its place: EISDIR; no permission: EACCES) as
 * it is. It fails closed alike (src/cli/commands/audit.ts verifyKey). Review: every read error was
 * reported as "is missing", sending the operator to look for a file that is there. Second review: so was
 * it with --key on a trail with nothing sealed (src/audit/verify-lane.ts keyProblem).
 */
import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AUDIT_PUBLIC_KEY_FILE } from "../../src/audit/checkpoint.js";
import { sampleRecord } from "../journal/sample-record.js";
import { openBoundTrail, runEtcLane, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-verify-key-"));
});
afterEach(() => cleanup());

it("a directory in the key file's place is reported as unreadable, not missing, and fails", async () => {
  const data = join(dir, "data");
  const lane = openBoundTrail(data, { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
  lane.trail.events.alarm("STATUS_LIST_STALE", "status list is stale");
  await lane.close();
  const beside = join(data, AUDIT_PUBLIC_KEY_FILE);
  renameSync(beside, join(dir, "moved.pem"));
  mkdirSync(beside);
  const r = await runEtcLane(["audit", "verify", "--data-dir", data]);
  expect(r.code).toBe(1);
  expect(r.out).not.toContain("is missing");
  expect(r.out).toContain(`key: none: ${beside} cannot be read (EISDIR`);
  expect(r.out).toContain("FAILED: no public key: the checkpoints' signatures cannot be checked");
});

it("--key on a trail with nothing sealed, a directory in the key file's place: unreadable, not missing, and fails", async () => {
  const data = join(dir, "data");
  const lane = openBoundTrail(data);
  lane.trail.events.alarm("STATUS_LIST_STALE", "status list is stale");
  lane.journal.commit(sampleRecord(1));
  await lane.trail.flush(); // killed here: no closing checkpoint, nothing sealed
  const beside = join(data, AUDIT_PUBLIC_KEY_FILE);
  const given = join(dir, "lane.pub.pem");
  copyFileSync(beside, given);
  renameSync(beside, join(dir, "moved.pem"));
  mkdirSync(beside);
  const r = await runEtcLane(["audit", "verify", "--data-dir", data, "--key", given]);
  expect(r.code).toBe(1);
  expect(r.out).not.toContain("is missing");
  expect(r.out).toMatch(
    /FAILED: nothing in the trail is sealed yet and .*audit-key\.pub\.pem cannot be read \(EISDIR[^)]*\): the key \(id [0-9a-f]{16}\) could not be checked/,
  );
});
