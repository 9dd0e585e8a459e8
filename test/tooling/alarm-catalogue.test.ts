/**
 * docs/maintenance.md "Alarms and notices" lists every alarm and notice code the lane's production code
 * (`src/`) raises, and every entry type of alarm severity (the `code` label of `etc_lane_alarms_total`
 * when an entry has no `data.code`). This reads the codes from the source and fails naming any code the
 * table lacks, or a row naming a code the source no longer raises:
 * - literal codes: `alarm("CODE", ...)`, `alarmLater("CODE", ...)`, `notice("CODE", ...)`, the audit
 *   trail's recovery alarms (`alarms.push({ code: "CODE" ...`, `alarm: { code: "CODE" ...`), and a
 *   constant named as the code (`alarm(VERIFY_FAILED_CODE, ...)`, resolved from its `const`);
 * - every other call (a template, a variable, a forwarding wrapper) must be one of INDIRECT below, which
 *   says what codes it raises: a template by its expansions, each checked against the source's own type
 *   or list (LaneClosedReason, SUSPECT_REASONS, the stop reasons' alarm flag, ALARM_REFUSALS, the list
 *   health states), so a new value of a type is a new code the table must have;
 * - entry types: `type: "t", severity: <an expression naming "alarm">` and the positional form
 *   (`emit("t", <severity>, ...)`, `audit("t", "alarm", ...)`);
 * - the other ways an alarm or notice is written without those helpers: an output or event object
 *   (`{ type: "alarm", code, ... }`, `{ type: "notice", ... }`) and a `lane.alarm` / `lane.notice` entry
 *   (`{ type: "lane.alarm", ..., data: { code } }`, `appendAudit("lane.alarm", "alarm", m, { code })`).
 *   A literal `code: "CODE"` (or a constant) in it is a code; every other such site must be one of WRITERS
 *   below, the forwarders whose codes are read at their callers; any other mention of those entry types
 *   must be one of ENTRY_TYPE_MENTIONS (their declarations).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ALARM_REFUSALS } from "../../src/booth/checks.js";
import type { LaneClosedReason } from "../../src/lane/lane-gate.js";
import { listHealthCode } from "../../src/lane/list-policy.js";
import { STOP_REASONS, SUSPECT_REASONS } from "../../src/lane/stop-reasons.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DOC = "docs/maintenance.md";

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile() && e.name.endsWith(".ts")) yield p;
  }
}

const SOURCES: { file: string; text: string }[] = [...files(join(ROOT, "src"))].map((p) => ({
  file: relative(ROOT, p).replaceAll("\\", "/"),
  text: readFileSync(p, "utf8"),
}));
const source = (file: string): string => {
  const s = SOURCES.find((x) => x.file === file);
  if (!s) throw new Error(`${file} not found`);
  return s.text;
};

type Severity = "alarm" | "notice";

// ---- the expansions of the template codes, each checked against the source below -------------------

/** The lane's close reasons that raise `LANE_CLOSED_<REASON>`: true; false for those that raise none. */
const LANE_CLOSED_RAISES: Record<LaneClosedReason, boolean> = {
  "rsu-down": true,
  "rsu-init": true,
  "rsu-fault": true,
  journal: true,
  "status-list": true,
  operator: false,
  stopping: false,
  stopped: false,
};
const laneClosedCode = (r: string): string => `LANE_CLOSED_${r.toUpperCase().replace("-", "_")}`;
const LANE_CLOSED_CODES = Object.entries(LANE_CLOSED_RAISES)
  .filter(([, raises]) => raises)
  .map(([r]) => laneClosedCode(r));

/** The list health states ListPolicy.onHealth alarms on (src/lane/list-policy.ts). */
const LIST_HEALTH_ALARMED = ["missing", "past-hard-age", "failed"];

const STOP_ALARMS = Object.entries(STOP_REASONS)
  .filter(([, info]) => info.alarm)
  .map(([code]) => code);

/**
 * Every call site whose code is not a literal: `file|first argument` (as the source spells it, up to its
 * first `,` or `)`), how many sites read so (each counted: a second one is a new site), and the codes it raises ([] for a wrapper that forwards codes raised elsewhere, or a
 * message).
 */
const INDIRECT: Record<string, { sites: number; codes: string[] }> = {
  // forwarders: the codes are those their callers pass, read at the callers
  "src/audit/trail.ts|a.code": { sites: 1, codes: [] }, // the recovery's alarms (`alarms.push({ code: ...`)
  "src/booth/booth.ts|code": { sites: 1, codes: [] },
  "src/lane/controller.ts|code": { sites: 3, codes: [] }, // the alarm, notice and alarmLater wrappers it hands its parts
  "src/lane/effect-runner.ts|e.code": { sites: 1, codes: [] }, // the machine's alarm effects (`kind: "alarm", code: ...`)
  "src/lane/loop-errors.ts|`${what} threw: ${msg}`": { sites: 1, codes: [] }, // messages: the code is LANE_LOOP_ERROR
  "src/lane/loop-errors.ts|this.last": { sites: 1, codes: [] },
  // codes from a type or a list
  "src/booth/charge.ts|code": { sites: 1, codes: [...ALARM_REFUSALS] },
  "src/lane/lane-gate.ts|`LANE_CLOSED_${next.reason.toUpperCase(": { sites: 1, codes: LANE_CLOSED_CODES },
  'src/lane/list-policy.ts|listHealthCode("past-hard-age"': {
    sites: 1,
    codes: [listHealthCode("past-hard-age")],
  },
  "src/lane/list-policy.ts|listHealthCode(h.state": {
    sites: 1,
    codes: LIST_HEALTH_ALARMED.map(listHealthCode),
  },
  "src/lane/obu-outcomes.ts|effect reason": { sites: 1, codes: STOP_ALARMS },
  "src/lane/obu-outcomes.ts|effect `SUSPECT_${why}`": {
    sites: 1,
    codes: SUSPECT_REASONS.map((r) => `SUSPECT_${r}`),
  },
};

/**
 * Every site that writes an alarm or notice output/event object or a `lane.alarm` / `lane.notice` entry
 * with a code that is not a literal: `file|kind code-expression` (kind: `alarm`, `notice`, `lane.alarm`,
 * `lane.notice`). Each forwards the code its own callers pass (read at those callers above).
 */
const WRITERS = [
  "src/audit/events.ts|lane.alarm code", // LaneEvents.alarm
  "src/booth/effects.ts|alarm code", // BoothEffects.alarm
  "src/booth/effects.ts|lane.alarm code",
  "src/lane/controller.ts|alarm code", // LaneController.alarm: the outputs...
  "src/lane/controller.ts|alarm code", // ... and the lane's events (one entry per site)
  "src/lane/controller.ts|lane.alarm code",
  "src/lane/controller.ts|notice code", // LaneController.notice
  "src/lane/controller.ts|lane.notice code",
  "src/lane/runtime.ts|alarm code", // the audit trail's onAlarm, to the outputs
  "src/service/runtime-feed.ts|alarm a.code", // the trail's alarm entries, to the feed
];

/** The entries of `list` beyond those `listed` has, counted one per site (a second site of a known kind too), sorted. */
function beyond(list: readonly string[], listed: readonly string[]): string[] {
  const left = [...listed];
  const out: string[] = [];
  for (const w of list) {
    const i = left.indexOf(w);
    if (i < 0) out.push(w);
    else left.splice(i, 1);
  }
  return out.sort();
}

/**
 * Every other mention of `"lane.alarm"` / `"lane.notice"` in src/ (`file|the line`): the declarations of the
 * entry types, which write nothing. A new mention (a constant holding the type, say) must be read here.
 */
const ENTRY_TYPE_MENTIONS = [
  'src/audit/events.ts|"lane.alarm": { code: string; [k: string]: unknown };', // LaneEventData
  'src/audit/events.ts|"lane.alarm",', // LANE_EVENT_KINDS
  'src/service/trail-filters.ts|"lane.notice",', // AUDIT_ENTRY_TYPES
];

// ---- what the source raises ------------------------------------------------------------------------

interface Found {
  codes: Map<string, { severity: Severity; files: Set<string> }>;
  /** one entry per call site whose code is not a literal */
  indirect: string[];
  /** the alarm/notice objects and lane.alarm/lane.notice entries written with a code that is no literal: one per site */
  writers: string[];
  /** the lines that mention "lane.alarm" / "lane.notice" other than where such an entry is written */
  mentions: Set<string>;
  types: Map<string, Set<string>>;
}

/** The rest of the expression `text` holds at `from`: up to the bracket that closes what encloses it. */
function restOfEnclosing(text: string, from: number): string {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"' || ch === "'" || ch === "`") {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) return text.slice(from);
      i = end;
    } else if (ch === "(" || ch === "{" || ch === "[") depth++;
    else if (ch === ")" || ch === "}" || ch === "]") {
      depth--;
      if (depth < 0) return text.slice(from, i);
    }
  }
  return text.slice(from);
}

/** The expression of the `code` property in `expr` (`code` when shorthand), or undefined. */
function codeExpression(expr: string): string | undefined {
  const m = /(?<![.\w])code(?:\s*:\s*([^,}\n]+?))?\s*[,}\n]/.exec(`${expr}\n`);
  if (!m) return undefined;
  return (m[1] ?? "code").trim();
}

const CODE = /^[A-Z][A-Z0-9_]*$/;

function addCode(f: Found, code: string, severity: Severity, file: string): void {
  const had = f.codes.get(code);
  if (had && had.severity !== severity)
    throw new Error(`${code} is raised both as ${had.severity} and as ${severity} (${file})`);
  const e = had ?? { severity, files: new Set<string>() };
  e.files.add(file);
  f.codes.set(code, e);
}

/** The value of `const NAME = "..."` in src, or undefined. */
function constant(name: string): string | undefined {
  for (const s of SOURCES) {
    const m = new RegExp(`\\bconst ${name}\\s*=\\s*"([A-Z][A-Z0-9_]*)"`).exec(s.text);
    if (m) return m[1];
  }
  return undefined;
}

const namesAlarm = (severityExpr: string): boolean => /"alarm"/.test(severityExpr);

function scan(sources: { file: string; text: string }[] = SOURCES): Found {
  const f: Found = {
    codes: new Map(),
    indirect: [],
    writers: [],
    mentions: new Set(),
    types: new Map(),
  };
  const addType = (t: string, file: string): void => {
    const set = f.types.get(t) ?? new Set<string>();
    set.add(file);
    f.types.set(t, set);
  };
  for (const { file, text } of sources) {
    // alarm("CODE", ...), alarmLater(...), notice(...): a literal, a constant, or an indirect site
    for (const m of text.matchAll(/\b(alarm|alarmLater|notice)\(\s*([^,)]*)/g)) {
      const severity: Severity = m[1] === "notice" ? "notice" : "alarm";
      const arg = (m[2] ?? "").trim();
      const lit = /^"([^"]*)"$/.exec(arg);
      if (lit?.[1] !== undefined && CODE.test(lit[1])) addCode(f, lit[1], severity, file);
      else if (/^[A-Za-z_]\w*\??\s*:/.test(arg))
        continue; // a declaration: `alarm(code: string, ...)`
      else if (CODE.test(arg) && constant(arg) !== undefined) addCode(f, constant(arg) ?? "", severity, file);
      else f.indirect.push(`${file}|${arg}`);
    }
    // the trail's recovery alarms, raised by AuditTrail.open
    for (const m of text.matchAll(/(?:alarms\.push\(|\balarm:\s*)\{\s*code:\s*"([A-Z][A-Z0-9_]*)"/g))
      addCode(f, m[1] ?? "", "alarm", file);
    // the OBU machine's alarm effects (run by src/lane/effect-runner.ts)
    for (const m of text.matchAll(/kind:\s*"alarm",\s*code:\s*([^,\n]*)/g)) {
      const arg = (m[1] ?? "").trim();
      const lit = /^"([A-Z][A-Z0-9_]*)"$/.exec(arg);
      if (lit?.[1]) addCode(f, lit[1], "alarm", file);
      else f.indirect.push(`${file}|effect ${arg}`);
    }
    // alarm/notice objects and lane.alarm/lane.notice entries written without the helpers; `type: "alarm";`
    // in a type declaration writes nothing
    const written = [
      ...text.matchAll(/\btype:\s*"(alarm|notice|lane\.alarm|lane\.notice)"(?!\s*;)/g),
      ...text.matchAll(/\b\w+\(\s*"(lane\.alarm|lane\.notice)"/g),
    ];
    const writtenAt = new Set(written.map((m) => (m.index ?? 0) + m[0].indexOf('"')));
    for (const m of text.matchAll(/"lane\.(?:alarm|notice)"/g)) {
      if (writtenAt.has(m.index ?? 0)) continue;
      const from = text.lastIndexOf("\n", m.index ?? 0) + 1;
      const to = text.indexOf("\n", m.index ?? 0);
      f.mentions.add(`${file}|${text.slice(from, to < 0 ? undefined : to).trim()}`);
    }
    for (const m of written) {
      const kind = m[1] ?? "";
      const severity: Severity = kind.endsWith("notice") ? "notice" : "alarm";
      const expr = codeExpression(restOfEnclosing(text, (m.index ?? 0) + m[0].length)) ?? "(no code)";
      const lit = /^"([A-Z][A-Z0-9_]*)"$/.exec(expr)?.[1] ?? (CODE.test(expr) ? constant(expr) : undefined);
      if (lit !== undefined) addCode(f, lit, severity, file);
      else f.writers.push(`${file}|${kind} ${expr}`);
    }
    // entry types of alarm severity
    for (const m of text.matchAll(/type:\s*"([a-z][a-z.-]*)",\s*severity(?::\s*([^,}\n]*))?\s*[,}]/g)) {
      const expr = m[2] ?? /\bconst severity\s*=([^;]*);/.exec(text)?.[1] ?? "";
      if (namesAlarm(expr)) addType(m[1] ?? "", file);
    }
    for (const m of text.matchAll(/\b(?:emit|audit|appendAudit)\(\s*"([a-z][a-z.-]*)",\s*([^,]*),/g))
      if (namesAlarm(m[2] ?? "")) addType(m[1] ?? "", file);
  }
  for (const site of new Set(f.indirect))
    for (const code of INDIRECT[site]?.codes ?? []) addCode(f, code, "alarm", site);
  // lane.alarm always carries its code: its rows are the codes
  f.types.delete("lane.alarm");
  return f;
}

// ---- what the table says ---------------------------------------------------------------------------

interface Catalogue {
  codes: Map<string, Severity>;
  types: Set<string>;
}

/** The section "Alarms and notices" of `doc`: the code rows (severity alarm/notice) and the entry types. */
function catalogue(doc: string): Catalogue {
  const start = doc.indexOf("\n## Alarms and notices\n");
  if (start < 0) throw new Error(`${DOC} has no section "Alarms and notices"`);
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const out: Catalogue = { codes: new Map(), types: new Set() };
  for (const line of section.split("\n")) {
    if (!line.startsWith("| ") || line.startsWith("| ---")) continue;
    const cells = line.split(" | ").map((c) => c.replace(/^\| |\s*\|$/g, "").trim());
    const [first = "", second = ""] = cells;
    const names = [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "");
    if (second === "alarm" || second === "notice") {
      for (const n of names) out.codes.set(n, second);
    } else if (names.length > 0 && names.every((n) => /^[a-z][a-z.-]*$/.test(n))) {
      for (const n of names) out.types.add(n);
    }
  }
  return out;
}

/** What the table lacks or has wrong, and what it names that the source does not raise. */
function compare(found: Found, cat: Catalogue): string[] {
  const problems: string[] = [];
  for (const [code, { severity, files: where }] of [...found.codes].sort(([a], [b]) => a.localeCompare(b))) {
    const row = cat.codes.get(code);
    if (row === undefined)
      problems.push(`${code} (${severity}, ${[...where].join(", ")}) is not in the table`);
    else if (row !== severity) problems.push(`${code} is listed as ${row}, raised as ${severity}`);
  }
  for (const code of cat.codes.keys())
    if (!found.codes.has(code)) problems.push(`${code} is in the table but raised nowhere in src/`);
  for (const [t, where] of [...found.types].sort(([a], [b]) => a.localeCompare(b)))
    if (!cat.types.has(t))
      problems.push(`entry type ${t} (alarm severity, ${[...where].join(", ")}) is not in the table`);
  for (const t of cat.types)
    if (!found.types.has(t))
      problems.push(`entry type ${t} is in the table but no alarm entry of it is written in src/`);
  return problems;
}

const doc = readFileSync(join(ROOT, DOC), "utf8");
const found = scan();

describe(`the alarm and notice catalogue (${DOC} "Alarms and notices")`, () => {
  it("lists every code src/ raises, with its severity, and every entry type of alarm severity", () => {
    expect(found.codes.size).toBeGreaterThan(50);
    expect(found.types.size).toBeGreaterThan(10);
    expect(compare(found, catalogue(doc))).toEqual([]);
  });

  it("knows every call site whose code is not a literal (a new one: add it to INDIRECT with its codes)", () => {
    const listed = Object.entries(INDIRECT).flatMap(([site, { sites }]) => Array<string>(sites).fill(site));
    expect(beyond(found.indirect, listed)).toEqual([]);
    expect(beyond(listed, found.indirect)).toEqual([]);
  });

  it("knows every site writing an alarm or notice object or a lane.alarm/lane.notice entry (a new one: add it to WRITERS)", () => {
    expect(beyond(found.writers, WRITERS)).toEqual([]);
    expect(beyond(WRITERS, found.writers)).toEqual([]);
    expect([...found.mentions].sort()).toEqual([...ENTRY_TYPE_MENTIONS].sort());
  });

  it("expands the templates from the source's own types and lists", () => {
    // LaneClosedReason, as lane-gate.ts declares it, and the reasons it raises no alarm for
    const gate = source("src/lane/lane-gate.ts");
    const union = /export type LaneClosedReason =([^;]*);/.exec(gate)?.[1] ?? "";
    const reasons = [...union.matchAll(/"([a-z-]+)"/g)].map((m) => m[1]);
    expect(reasons.sort()).toEqual(Object.keys(LANE_CLOSED_RAISES).sort());
    const at = gate.indexOf("`LANE_CLOSED_${");
    const guard = gate.slice(gate.lastIndexOf("if (", at), at);
    const silent = [...guard.matchAll(/next\.reason !== "([a-z-]+)"/g)].map((m) => m[1]);
    const raisesNone = Object.entries(LANE_CLOSED_RAISES).filter(([, r]) => !r);
    expect(silent.sort()).toEqual(raisesNone.map(([k]) => k).sort());
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source's template, read as its text
    expect(gate).toContain('`LANE_CLOSED_${next.reason.toUpperCase().replace("-", "_")}`');
    // SUSPECT_<why>: `why` is a SuspectReason (stop-reasons.ts SUSPECT_REASONS)
    expect(source("src/lane/obu-outcomes.ts")).toMatch(/export function suspect\([^)]*\bwhy: SuspectReason,/);
    expect(source("src/lane/stop-reasons.ts")).toContain(
      "export type SuspectReason = (typeof SUSPECT_REASONS)[number];",
    );
    // the stop's alarm is its reason's code when the reason's alarm flag is set
    expect(source("src/lane/obu-outcomes.ts")).toMatch(
      /if \(info\.alarm\)\s*effects\.push\(\{\s*kind: "alarm",\s*code: reason,/,
    );
    // the booth alarms the refusals of ALARM_REFUSALS, with the refusal's code
    expect(source("src/booth/charge.ts")).toMatch(/if \(ALARM_REFUSALS\.has\(code\)\)\s*ctx\.alarm\(code,/);
    // the list health states ListPolicy.onHealth alarms on
    const policy = source("src/lane/list-policy.ts");
    const healthGuard =
      /if \((h\.state !== "[a-z-]+"(?: && h\.state !== "[a-z-]+")*)\) return;\s*this\.d\.alarm\(listHealthCode\(h\.state\)/.exec(
        policy,
      )?.[1];
    const states = [...(healthGuard ?? "").matchAll(/"([a-z-]+)"/g)].map((m) => m[1]);
    expect(states.sort()).toEqual([...LIST_HEALTH_ALARMED].sort());
  });

  it("would name a code missing from the table, and one the table lists that nothing raises", () => {
    const without = doc.replace(/^\| `LANE_CLOSED_JOURNAL` \|.*\n/m, "");
    expect(without).not.toBe(doc);
    expect(compare(found, catalogue(without))).toEqual([
      "LANE_CLOSED_JOURNAL (alarm, src/lane/lane-gate.ts|`LANE_CLOSED_${next.reason.toUpperCase() is not in the table",
    ]);
    const withExtra = doc.replace(
      "\n| `RSU_FAULT` |",
      "\n| `RSU_GONE` | alarm | x | x | x | x |\n| `RSU_FAULT` |",
    );
    expect(compare(found, catalogue(withExtra))).toEqual([
      "RSU_GONE is in the table but raised nowhere in src/",
    ]);
  });

  it("would name a code written as an output or an entry without the helpers, and a new site writing one", () => {
    const board = {
      file: "src/outputs/io-board.ts",
      text: [
        'outputs.emit({ type: "alarm", code: "IO_BOARD_FAULT", message, at });',
        "fx.appendAudit(",
        '  "lane.alarm",',
        '  "alarm",',
        "  m,",
        '  { code: "BOOTH_X" },',
        ");",
        'audit.append({ type: "lane.notice", severity: "info", message, data: { code: "BOARD_NOTE" } });',
        'this.subject.next({ type: "alarm", code: boardCode, message, at });',
        'fx.appendAudit("lane.alarm", "alarm", m, { path: "board" });',
        'const BOARD_ENTRY = "lane.alarm";',
      ].join("\n"),
    };
    const more = scan([...SOURCES, board]);
    expect(compare(more, catalogue(doc))).toEqual([
      "BOARD_NOTE (notice, src/outputs/io-board.ts) is not in the table",
      "BOOTH_X (alarm, src/outputs/io-board.ts) is not in the table",
      "IO_BOARD_FAULT (alarm, src/outputs/io-board.ts) is not in the table",
    ]);
    // a second site of a call already listed, its code from a local constant, is a new site too
    const call = scan([
      ...SOURCES,
      {
        file: "src/lane/controller.ts",
        text: 'const code = "RSU_ANTENNA_FAULT";\nthis.alarm(code, message);',
      },
    ]);
    const listed = Object.entries(INDIRECT).flatMap(([site, { sites }]) => Array<string>(sites).fill(site));
    expect(beyond(call.indirect, listed)).toEqual(["src/lane/controller.ts|code"]);
    // a second site of a kind already listed (the shorthand `code`, set from a local constant) is a new site
    const second = scan([
      ...SOURCES,
      {
        file: "src/lane/controller.ts",
        text: 'const code = "RSU_ANTENNA_FAULT";\nthis.o.outputs.emit({ type: "alarm", code, message, at });',
      },
    ]);
    expect(beyond(second.writers, WRITERS)).toEqual(["src/lane/controller.ts|alarm code"]);
    expect(beyond(more.writers, WRITERS)).toEqual([
      "src/outputs/io-board.ts|alarm boardCode",
      "src/outputs/io-board.ts|lane.alarm (no code)",
    ]);
    expect([...more.mentions].filter((w) => !ENTRY_TYPE_MENTIONS.includes(w))).toEqual([
      'src/outputs/io-board.ts|const BOARD_ENTRY = "lane.alarm";',
    ]);
  });
});
