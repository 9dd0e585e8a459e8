/**
 * An operator command's outcome is printed with its card numbers masked (src/cli/operator-call.ts
 * printOutcome), as a line and as JSON: `lane close` on a lane already closed repeats that close's reason,
 * text another operator typed, which `etc-lane status` masks too. Session 30 review, round 2 (before, the
 * second close printed the card number in full).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerLane } from "../../src/cli/commands/lane.js";
import { openBoundTrail } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

const CARD = "43010000000000009001";
const MASKED = "4301************9001";

const cli = inProcessEtcLane("etc-outcome-masking-", [registerLane]);
const etcLane = cli.run;

describe("lane close on a lane already closed (no lane running: the data directory)", () => {
  it("repeats the earlier close's reason with its card number masked, in the line and in --json", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir, { utcOffsetMinutes: 480 }, { utcOffsetMinutes: 480 });
    lane.journal.commit(sampleRecord(1));
    await lane.close();
    const reason = `card ${CARD} jams the barrier`;
    expect(await etcLane(["lane", "close", "--reason", reason, "--data-dir", dataDir]), cli.io().err).toBe(0);
    cli.io().out = "";
    cli.io().err = "";
    await etcLane(["lane", "close", "--reason", "again", "--data-dir", dataDir]);
    expect(cli.io().out + cli.io().err).toContain(MASKED);
    expect(cli.io().out + cli.io().err).not.toContain(CARD);
    cli.io().out = "";
    cli.io().err = "";
    await etcLane(["lane", "close", "--reason", "again", "--json", "--data-dir", dataDir]);
    const json = JSON.parse(cli.io().out.trim()) as Record<string, unknown>;
    expect(JSON.stringify(json)).toContain(MASKED);
    expect(JSON.stringify(json)).not.toContain(CARD);
  });
});
