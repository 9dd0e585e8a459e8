import { describe, expect, it } from "vitest";
import { useJournalDir } from "./helpers.js";

const jd = useJournalDir();

describe("lane settings (the lane gate's operator close, kept across restarts)", () => {
  it("are durable on return, survive a reopen, and null deletes one", () => {
    const j = jd.open();
    expect(j.readSetting("lane.operator-close")).toBeNull();
    j.writeSetting("lane.operator-close", '{"user":"wang"}');
    j.writeSetting("lane.operator-close", '{"user":"li"}'); // replaced, not added
    expect(j.durability()).toEqual({ journalMode: "wal", synchronous: 2 }); // written with FULL
    j.close();
    const j2 = jd.open();
    expect(j2.readSetting("lane.operator-close")).toBe('{"user":"li"}');
    j2.writeSetting("lane.operator-close", null);
    j2.close();
    expect(jd.open().readSetting("lane.operator-close")).toBeNull();
  });

  it("live apart from the journal's own meta rows: a setting named like one changes nothing", () => {
    const j = jd.open();
    const seq = j.lastSeq();
    j.writeSetting("last_seq", "999");
    j.close();
    const j2 = jd.open();
    expect(j2.lastSeq()).toBe(seq);
    expect(j2.readSetting("last_seq")).toBe("999");
  });
});
