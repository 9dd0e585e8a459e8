/** The data directory is created 0700 when missing (src/datadir/create.ts), by the lock and the journal. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROOT } from "../../sim/harness/procs.js";
import { ensureDataDir } from "../../src/datadir/create.js";
import { acquireDataDirLock, DataDirErrors } from "../../src/datadir/lock.js";
import { openLaneJournal } from "../audit/helpers.js";

let root: string;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "etc-datadir-"));
  umask = process.umask(0o022); // the usual one: what a directory made without a mode would get is 0755
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const mode = (p: string): number => statSync(p).mode & 0o777;

describe("the data directory's mode", () => {
  it("is 0700 when it is created, its missing parents the ordinary 0755; an existing one keeps its mode", () => {
    const dir = join(root, "var", "lane3");
    ensureDataDir(dir);
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(root, "var"))).toBe(0o755);
    const existing = join(root, "existing");
    mkdirSync(existing, { mode: 0o755 });
    ensureDataDir(existing);
    expect(mode(existing)).toBe(0o755);
  });

  // review: its parents were made with mkdir's recursive, which on Node 20 never returns under /proc. In a
  // child (a spin blocks the thread; the child is killed at the timeout).
  it("a parent that cannot be made (under /proc): throws, does not hang", () => {
    const create = join(ROOT, "dist/src/datadir/create.js");
    const script = `
      import { ensureDataDir } from ${JSON.stringify(create)};
      try { ensureDataDir("/proc/etc-lane-no-such/lane3"); console.log("made"); }
      catch (e) { console.log(e.code); }
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
      killSignal: "SIGKILL",
    });
    expect({ status: r.status, signal: r.signal, stdout: r.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: "ENOENT\n",
    });
  });

  it("a maintenance command's lock (create: false) refuses a missing one and creates nothing", () => {
    const typo = join(root, "var", "lane3");
    expect(() => acquireDataDirLock(typo, { role: "cli", command: "test" }, { create: false })).toThrow(
      expect.objectContaining({ code: DataDirErrors.Missing }),
    );
    expect(existsSync(join(root, "var"))).toBe(false);
  });

  it("the lane's lock and journal create it 0700", async () => {
    const a = join(root, "a");
    acquireDataDirLock(a, { role: "cli", command: "test" }).release();
    expect(mode(a)).toBe(0o700);
    const b = join(root, "b");
    const j = openLaneJournal(b);
    await j.close();
    expect(mode(b)).toBe(0o700);
  });
});
