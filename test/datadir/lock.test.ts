import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import {
  acquireDataDirLock,
  DataDirErrors,
  type DataDirLock,
  HOLDER_FILE,
  kernelLockOwner,
  LOCK_FILE,
} from "../../src/datadir/lock.js";
import { openLane } from "../../src/lane/runtime.js";
import { tempDir } from "../status-list/helpers.js";
import { type Holder, holdLock } from "./holder.js";

let tmp: ReturnType<typeof tempDir>;
const held: DataDirLock[] = [];
const holders: Holder[] = [];

beforeEach(() => {
  tmp = tempDir("etc-datadir-");
});
afterEach(async () => {
  for (const l of held.splice(0)) l.release();
  for (const h of holders.splice(0)) await h.kill();
  tmp.cleanup();
});

const take = (role: "lane" | "cli" = "cli", command = "test"): DataDirLock => {
  const l = acquireDataDirLock(tmp.dir, { role, command });
  held.push(l);
  return l;
};

describe("data-directory lock", () => {
  it("a child process holding the lock refuses a second writer, naming its pid, command and start time", async () => {
    const h = await holdLock(tmp.dir, "lane", "lane 4301-0102-03");
    holders.push(h);
    const err = (() => {
      try {
        take();
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: DataDirErrors.InUse, details: { pid: h.pid } });
    expect((err as Error).message).toMatch(
      new RegExp(
        `^the data directory ${tmp.dir} is in use by lane 4301-0102-03 \\(pid ${h.pid}, running since \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z: .*lock-child\\.ts.*\\); stop the lane first, ` +
          "or act through it: a running lane takes status-list bundles \\(etc-lane status-list import --config FILE\\), " +
          "lane close and open, held records, settlements by hand \\(journal settle\\) and retention runs " +
          `through its control socket ${tmp.dir}/control\\.sock$`,
      ),
    );
    expect(kernelLockOwner(join(tmp.dir, LOCK_FILE))).toBe(h.pid);
  });

  it("is free once the holder is SIGKILLed: the kernel drops the lock, nothing stale is left to clean", async () => {
    const h = await holdLock(tmp.dir, "cli", "etc-lane status-list import");
    expect(() => take()).toThrow(/in use by etc-lane status-list import .*; wait for it to finish/);
    await h.kill();
    // the killed holder's details file is still there, and does not matter
    expect(JSON.parse(readFileSync(join(tmp.dir, HOLDER_FILE), "utf8")).pid).toBe(h.pid);
    const mine = take("cli", "after the kill");
    expect(mine.holder.pid).toBe(process.pid);
    expect(JSON.parse(readFileSync(join(tmp.dir, HOLDER_FILE), "utf8"))).toEqual(mine.holder);
    expect(kernelLockOwner(join(tmp.dir, LOCK_FILE))).toBe(process.pid);
  });

  it("refuses a second holder in the same process; release frees it and removes its details", () => {
    const first = take("lane", "first");
    expect(() => take()).toThrow(
      expect.objectContaining({
        code: DataDirErrors.InUse,
        message: expect.stringMatching(/in use by first \(pid/),
      }),
    );
    first.release();
    first.release(); // idempotent
    expect(first.released).toBe(true);
    expect(existsSync(join(tmp.dir, HOLDER_FILE))).toBe(false);
    expect(take().released).toBe(false);
  });

  it("names the kernel's lock owner when the details file belongs to someone else", async () => {
    const h = await holdLock(tmp.dir, "lane", "lane 4301-0102-03");
    holders.push(h);
    writeFileSync(
      join(tmp.dir, HOLDER_FILE),
      JSON.stringify({
        pid: 1,
        role: "lane",
        command: "an old lane",
        argv: "x",
        since: "2020-01-01",
        host: "h",
        token: "t",
      }),
    );
    expect(() => take()).toThrow(
      new RegExp(`in use by another process \\(pid ${h.pid}; its details are not written yet\\)`),
    );
  });

  it("is held by openLane for the life of the lane and released by its close", async () => {
    const config = parseLaneConfig(
      {
        lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
        rsu: { port: "in-process", protocol: "legacy" },
        statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
        dataDir: tmp.dir,
        tariff: "config/tariff.example.yaml",
        outputs: { sink: "log" },
      },
      "test",
    );
    const lane = await openLane(config, { transport: createTransportPair().lane, uplink: false });
    try {
      expect(lane.dataDirLock.holder).toMatchObject({
        role: "lane",
        command: "lane 4301-0102-03",
        pid: process.pid,
      });
      expect(() => take()).toThrow(/in use by lane 4301-0102-03 \(pid \d+, running since/);
      // a second lane on the same directory is refused before it touches anything
      await expect(
        openLane(config, { transport: createTransportPair().lane, uplink: false }),
      ).rejects.toMatchObject({ code: DataDirErrors.InUse });
    } finally {
      await lane.close();
    }
    expect(lane.dataDirLock.released).toBe(true);
    expect(take().holder.pid).toBe(process.pid);
  });
});
