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
import { TARIFF_SETTING } from "../../src/lane/tariff-reuse.js";
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

// session 41 review: the setting kept the previous start's tariff alone: V, then W, then V corrected said
// nothing, and records of two V tables shared the name V
it("a version loaded before another one is still known: V, then W, then V with other bytes says so", async () => {
  const tariff = join(rig.dir(), "tariff.yaml");
  const v = tariffText("v1", 1500);
  const w = tariffText("v2", 1600);
  const vEdited = tariffText("v1", 1700);
  const c = rig.config({ tariff });
  const notes: string[][] = [];
  for (const text of [v, w, vEdited, w, vEdited]) {
    writeFileSync(tariff, text);
    const lane = await rig.open(c);
    notes.push(lane.tariffNotes.map((n) => n.message));
    await rig.close();
  }
  // the corrected V is named once against the first V; W and the corrected V again, as kept, say nothing
  expect(notes).toEqual([
    [],
    [],
    [
      `${tariff}: version "v1" is the version of the tariff the lane loaded before ` +
        `(${tariff}, sha256 ${sha(v).slice(0, 12)}), but this table's bytes differ ` +
        `(sha256 ${sha(vEdited).slice(0, 12)}): records of both name "v1"; expected a new version for a changed table`,
    ],
    [],
    [],
  ]);
  const loaded = [...readTrail(auditDir(c.dataDir))].filter((x) => x.entry.type === "tariff.loaded");
  expect(loaded.map((x) => x.entry.severity)).toEqual(["info", "info", "warn", "info", "info"]);
});

it("a lane upgraded in place keeps its memory: the setting an earlier version wrote (one tariff) is read", async () => {
  const tariff = join(rig.dir(), "tariff.yaml");
  const first = tariffText("v1", 1500);
  const edited = tariffText("v1", 1600);
  writeFileSync(tariff, first);
  const c = rig.config({ tariff });
  const lane = await rig.open(c);
  // what the earlier version kept: the previous start's tariff alone
  lane.journal.writeSetting(
    TARIFF_SETTING,
    JSON.stringify({ version: "v1", path: "/srv/old/tariff.yaml", sha256: sha(first) }),
  );
  await rig.close();
  writeFileSync(tariff, edited);
  const next = await rig.open(c);
  expect(next.tariffNotes.map((n) => n.message)).toEqual([
    `${tariff}: version "v1" is the version of the tariff the lane loaded before ` +
      `(/srv/old/tariff.yaml, sha256 ${sha(first).slice(0, 12)}), but this table's bytes differ ` +
      `(sha256 ${sha(edited).slice(0, 12)}): records of both name "v1"; expected a new version for a changed table`,
  ]);
  await rig.close();
});
