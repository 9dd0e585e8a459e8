/**
 * An operator action on a stopped lane without its config (`lane close|open`, `journal requeue-held`;
 * src/cli/direct-session.ts) writes its trail entries in the lane's UTC offset, read from what the lane
 * wrote (src/cli/stored-offset.ts): the journal's newest record, else the trail's newest entry, else the
 * dialects' default +08:00.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { registerLane } from "../../src/cli/commands/lane.js";
import { entries, openBoundTrail, openLaneJournal } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

const cli = inProcessEtcLane("etc-direct-offset-", [registerLane, registerJournal]);
const etcLane = cli.run;
/** The times of the trail entries written after the first `before` ones. */
const timesAfter = (dataDir: string, before: number): string[] =>
  entries(dataDir)
    .slice(before)
    .map((e) => e.time);

describe("a direct operator action without --config", () => {
  // review: the operator.* entries and their checkpoint were written at +08:00 whatever the lane's offset
  it("writes in the offset of the lane's newest record (a lane at +00:00)", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir, { utcOffsetMinutes: 0 }, { utcOffsetMinutes: 0 });
    lane.journal.commit(sampleRecord(1));
    await lane.close();
    const before = entries(dataDir).length;
    expect(entries(dataDir).at(-1)!.time).toMatch(/\+00:00$/);
    expect(
      await etcLane(["lane", "close", "--reason", "barrier maintenance", "--data-dir", dataDir]),
      cli.io().err,
    ).toBe(0);
    expect(await etcLane(["journal", "requeue-held", "--data-dir", dataDir]), cli.io().err).toBe(0);
    const written = timesAfter(dataDir, before);
    expect(
      entries(dataDir)
        .slice(before)
        .map((e) => e.type),
    ).toContain("operator.lane.close");
    expect(written.length).toBeGreaterThan(1);
    for (const time of written) expect(time).toMatch(/\+00:00$/);
  });

  it("writes in the offset of the trail's newest entry when the journal holds no record (-05:00)", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir, { utcOffsetMinutes: -300 }, { utcOffsetMinutes: -300 });
    await lane.close();
    const before = entries(dataDir).length;
    expect(before).toBeGreaterThan(0);
    expect(await etcLane(["lane", "open", "--data-dir", dataDir]), cli.io().err).toBe(0);
    const written = timesAfter(dataDir, before);
    expect(written.length).toBeGreaterThan(0);
    for (const time of written) expect(time).toMatch(/-05:00$/);
  });

  it("writes at +08:00 for a lane that wrote neither", async () => {
    const dataDir = join(cli.dir(), "data");
    await openLaneJournal(dataDir, { utcOffsetMinutes: 60 }).close();
    expect(entries(dataDir)).toEqual([]);
    expect(await etcLane(["lane", "close", "--reason", "x", "--data-dir", dataDir]), cli.io().err).toBe(0);
    const written = timesAfter(dataDir, 0);
    expect(written.length).toBeGreaterThan(0);
    for (const time of written) expect(time).toMatch(/\+08:00$/);
  });
});
