/**
 * The trail's `tariff.loaded` entry (src/lane/runtime.ts) records the SHA-256 of the bytes the lane parsed
 * its tariff from, not of a second read taken later in the start: a tariff replaced while the lane starts
 * (a deployment copying the new one and restarting) is not recorded next to the old table's version.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { Logger } from "../../firmware-bridge/log.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { openLaneRig } from "./open-lane-rig.js";

const rig = openLaneRig("etc-start-digests-");

const tariffText = (version: string, fee: number): string =>
  `station: "4301-0102"\nversion: "${version}"\nroutes: [{ from: "4301-0101", fees: { "1": ${fee} } }]\n`;
const sha = (text: string): string => createHash("sha256").update(text).digest("hex");

// review: the digest was read from the file again after the journal and the status list had opened
it("tariff.loaded: the digest of the bytes parsed, though the file was replaced while the lane started", async () => {
  const tariff = join(rig.dir(), "tariff.yaml");
  const parsed = tariffText("v1", 1500);
  const replacement = tariffText("v2", 1600);
  writeFileSync(tariff, parsed);
  const c = rig.config({ tariff });
  // openLane logs nothing before it parses the tariff (lane.tariff.version says so below): the file is
  // replaced at its first log line, on the way to the trail's first entries
  let replaced = false;
  const replace = (): void => {
    if (replaced) return;
    replaced = true;
    writeFileSync(tariff, replacement);
  };
  const logger: Logger = {
    trace: replace,
    debug: replace,
    info: replace,
    warn: replace,
    error: replace,
    child: () => logger,
  };
  const lane = await rig.open(c, { logger });
  expect(replaced).toBe(true);
  expect(lane.tariff?.version).toBe("v1");
  await rig.close();
  const loaded = [...readTrail(auditDir(c.dataDir))].filter((x) => x.entry.type === "tariff.loaded");
  expect(loaded.map((x) => x.entry.data)).toEqual([
    { path: tariff, sha256: sha(parsed), bytes: Buffer.byteLength(parsed), version: "v1" },
  ]);
});

// session 34 review: a fee corrected in place without a new version gave records of two tables one name
it("a tariff of the version the lane loaded before, with other bytes: a note and a warn tariff.loaded entry naming the previous digest", async () => {
  const tariff = join(rig.dir(), "tariff.yaml");
  const first = tariffText("v1", 1500);
  const edited = tariffText("v1", 1600);
  const next = tariffText("v2", 1600);
  writeFileSync(tariff, first);
  const c = rig.config({ tariff });
  const opens: { notes: string[] }[] = [];
  for (const text of [first, first, edited, next]) {
    writeFileSync(tariff, text);
    const lane = await rig.open(c);
    opens.push({ notes: lane.tariffNotes.map((n) => `${n.path}: ${n.message}`) });
    await rig.close();
  }
  const loaded = [...readTrail(auditDir(c.dataDir))].filter((x) => x.entry.type === "tariff.loaded");
  // the same bytes again, then another version: nothing said
  expect(opens.map((o) => o.notes.length)).toEqual([0, 0, 1, 0]);
  expect(opens[2]!.notes[0]).toBe(
    `tariff: ${tariff}: version "v1" is the version of the tariff the lane loaded before ` +
      `(${tariff}, sha256 ${sha(first).slice(0, 12)}), but this table's bytes differ ` +
      `(sha256 ${sha(edited).slice(0, 12)}): records of both name "v1"; expected a new version for a changed table`,
  );
  expect(loaded.map((x) => x.entry.severity)).toEqual(["info", "info", "warn", "info"]);
  expect(loaded[2]!.entry.data).toEqual({
    path: tariff,
    sha256: sha(edited),
    bytes: Buffer.byteLength(edited),
    version: "v1",
    sameVersionAs: { path: tariff, sha256: sha(first) },
  });
});

// session 35 review: the setting was kept when the tariff was compared, and `run` logs the note only once
// openLane has returned: a start that failed later in openLane lost the note, and the next start with
// the same table compared with itself and said nothing
it("a start that fails after comparing keeps nothing: the next start says the same note", async () => {
  const tariff = join(rig.dir(), "tariff.yaml");
  const first = tariffText("v1", 1500);
  const edited = tariffText("v1", 1600);
  writeFileSync(tariff, first);
  const c = rig.config({ tariff });
  await rig.open(c);
  await rig.close();
  writeFileSync(tariff, edited);
  // a link option the RSU link refuses: openLane throws after the trail's tariff.loaded entry
  await expect(rig.open(c, { link: { deframer: { maxFrameLength: 65_537 } } })).rejects.toThrow(
    /maxFrameLength/,
  );
  const lane = await rig.open(c);
  expect(lane.tariffNotes.map((n) => n.message)).toEqual([
    `${tariff}: version "v1" is the version of the tariff the lane loaded before ` +
      `(${tariff}, sha256 ${sha(first).slice(0, 12)}), but this table's bytes differ ` +
      `(sha256 ${sha(edited).slice(0, 12)}): records of both name "v1"; expected a new version for a changed table`,
  ]);
  await rig.close();
  const loaded = [...readTrail(auditDir(c.dataDir))].filter((x) => x.entry.type === "tariff.loaded");
  // the failed start's entry and the next one's both name the table before
  expect(loaded.map((x) => x.entry.severity)).toEqual(["info", "warn", "warn"]);
});
