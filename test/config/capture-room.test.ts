/**
 * `run --check` says what an enabled wire capture may use of its disk (src/config/capture-room.ts), and
 * warns when `maxFileMB × maxFiles` and one file more do not fit beside the margin the capture keeps free
 * for the journal (src/datadir/free-space.ts FREE_SPACE_MARGIN).
 */
import { describe, expect, it } from "vitest";
import { captureRoomNotes } from "../../src/config/capture-room.js";
import { parseLaneConfig } from "../../src/config/index.js";
import { laneConfigNotes } from "../../src/config/preflight.js";
import { MINIMAL_LANE_CONFIG } from "./helpers.js";

const MiB = 1024 * 1024;
const laneWithCapture = (capture: Record<string, unknown>) =>
  parseLaneConfig(
    { ...MINIMAL_LANE_CONFIG, dataDir: "/nonexistent-etc/lane3", capture },
    "lane.yaml",
    "/etc/etc-lane",
  );

describe("captureRoomNotes", () => {
  it("none without capture", () => {
    expect(captureRoomNotes(laneWithCapture({ enabled: false }), () => 0)).toEqual([]);
  });

  it("says what the capture may use, on the disk of its nearest existing directory", () => {
    const asked: string[] = [];
    const notes = captureRoomNotes(laneWithCapture({ enabled: true, maxFileMB: 16, maxFiles: 8 }), (d) => {
      asked.push(d);
      return (256 + 1000) * MiB;
    });
    expect(asked).toEqual(["/"]);
    expect(notes).toEqual([
      {
        path: "capture",
        message:
          "the capture may use up to 128 MiB in /nonexistent-etc/lane3/capture (maxFileMB 16 × maxFiles 8); its " +
          "disk has 1000 MiB free beyond the 256 MiB it keeps free there",
      },
    ]);
  });

  it("more than the disk has (512 MiB × 100 on a 32 GB disk): says it will stop rather than take the journal's margin", () => {
    const [note] = captureRoomNotes(
      laneWithCapture({ enabled: true, maxFileMB: 512, maxFiles: 100 }),
      () => 20_000 * MiB,
    );
    expect(note?.path).toBe("capture");
    expect(note?.message).toMatch(
      /^the capture may use up to 51200 MiB .*; its disk has 19744 MiB free beyond the 256 MiB it keeps free there: less than that and one file more, so it will delete its oldest files early, and stop capturing rather than take those 256 MiB \(the journal's\); lower capture\.maxFileMB or capture\.maxFiles, or set capture\.dir on another disk$/,
    );
  });

  it("is one of the notes run --check prints", () => {
    expect(laneConfigNotes(laneWithCapture({ enabled: true }))).toEqual([
      { path: "capture", message: expect.stringMatching(/^the capture may use up to 128 MiB in /) },
    ]);
  });
});
