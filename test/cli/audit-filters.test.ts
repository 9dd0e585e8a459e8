/**
 * `etc-lane audit search|export` refuse a --card, --obu or --kind no entry can have (src/cli/audit-filters.ts)
 * instead of printing "0 entries"; and how the maintenance commands find the lane names every source
 * (src/cli/lane-locate.ts), ETC_LANE_DATA_DIR included.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../sim/harness/procs.js";
import { AUDIT_ENTRY_TYPES, checkAuditFilters, isAuditKind } from "../../src/cli/audit-filters.js";
import { registerAudit } from "../../src/cli/commands/audit.js";
import { addLaneOptions, locateLane } from "../../src/cli/lane-locate.js";
import { UsageError } from "../../src/cli/run-cli.js";

/** `etc-lane audit ARGS` through the command's own action, in this process: the error it throws. */
async function auditError(args: string[]): Promise<unknown> {
  const program = new Command("etc-lane").exitOverride();
  registerAudit(program);
  try {
    // a data directory that does not exist: a filter that passes gets as far as "no audit trail in ..."
    await program.parseAsync(["node", "etc-lane", "audit", ...args, "--data-dir", "/nonexistent-etc-lane"]);
  } catch (e) {
    return e;
  }
  return null;
}

describe("audit search / export filters", () => {
  it("refuses a --card that is not 20 digits, naming the option", async () => {
    for (const cmd of [["search"], ["export", "--format", "csv"]]) {
      const e = await auditError([...cmd, "--card", "123"]);
      expect(e).toBeInstanceOf(UsageError);
      expect((e as Error).message).toMatch(
        /^--card: expected a card number of 20 \(hex\) digits .*got "123"/,
      );
    }
    expect(() => checkAuditFilters({ card: "4301000000000000123x" })).toThrow(/--card/);
    expect(() => checkAuditFilters({ card: "43010000000000001234" })).not.toThrow();
    expect(() => checkAuditFilters({ card: "430100000000000abcde" })).not.toThrow(); // read as hex from the card
  });

  it("refuses an --obu that is neither 16 nor 8 hex digits", async () => {
    const e = await auditError(["search", "--obu", "12345"]);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(
      /^--obu: expected an OBU contract serial of 16 hex digits or .*8 hex/,
    );
    expect(() => checkAuditFilters({ obu: "4301000000001001" })).not.toThrow();
    expect(() => checkAuditFilters({ obu: "a1B2c3D4" })).not.toThrow();
    expect(() => checkAuditFilters({ obu: "4301000000001001z" })).toThrow(/--obu/);
  });

  it("refuses an unknown --kind, listing what it takes", async () => {
    const e = await auditError(["search", "--kind", "stop", "nonsense"]);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(
      /^--kind: unknown "nonsense"; expected transaction, stop, suspect, record, event/,
    );
    expect((e as Error).message).toContain("lane.start");
    const x = await auditError(["export", "--format", "json", "--kind", "lane.sta"]);
    expect((x as Error).message).toMatch(/^--kind: unknown "lane.sta"/);
  });

  it("takes kinds, entry types and their first parts, as the search matches them", () => {
    for (const k of [
      "transaction",
      "Suspect",
      "record",
      "event",
      "lane.start",
      "uplink",
      "status-list",
      "operator",
      "operator.booth",
      "operator.lane.close",
      "audit",
      "audit.checkpoint",
      "booth.settled",
      "record.commit",
      "service.http",
      // refused requests (auditRefusedRequest): whatever action-shaped name the request gave
      "operator.bad-request",
      "operator.status",
      "operator.booth.list",
      "operator.lane.explode",
    ])
      expect(isAuditKind(k), k).toBe(true);
    // the search compares these exactly: a different case would find nothing
    for (const k of [
      "nonsense",
      "lane.",
      "lane.sta",
      "uplink.",
      "operator.",
      "LANE.START",
      "Record",
      "EVENT",
    ])
      expect(isAuditKind(k), k).toBe(false);
  });

  it("a filter that passes reaches the lane look-up (the trail is read only then)", async () => {
    const e = await auditError(["search", "--card", "43010000000000001234", "--kind", "uplink"]);
    expect((e as Error).message).toMatch(/^no data directory \/nonexistent-etc-lane /);
  });

  it("knows every entry type the lane writes (a literal type in src/)", () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".ts")) files.push(p);
      }
    };
    walk(join(ROOT, "src"));
    const written = new Set<string>();
    const re = /(?:\btype:\s*|appendAudit\(\s*|\.audit\(\s*)"([a-z-]+(?:\.[a-z-]+)+)"/g;
    for (const f of files) {
      if (f.includes(`${join("src", "cli")}`)) continue;
      for (const m of readFileSync(f, "utf8").matchAll(re)) written.add(m[1] as string);
    }
    expect(written.size).toBeGreaterThan(10);
    expect([...written].filter((t) => !AUDIT_ENTRY_TYPES.includes(t))).toEqual([]);
  });
});

describe("finding the lane", () => {
  it("names ETC_LANE_DATA_DIR in the 'which lane?' error and in the --config help", () => {
    expect(() => locateLane({}, {}, "/nonexistent/lane.yaml")).toThrow(
      /which lane\? give --config FILE .* or --data-dir DIR, or set ETC_LANE_CONFIG \(a config file\) or ETC_LANE_DATA_DIR \(a data directory\); \/nonexistent\/lane\.yaml does not exist/,
    );
    const help = addLaneOptions(new Command("x")).helpInformation();
    expect(help.replace(/\s+/g, " ")).toMatch(
      /\$ETC_LANE_CONFIG, then \$ETC_LANE_DATA_DIR, then \/etc\/etc-lane\/lane\.yaml/,
    );
  });
});
