/**
 * How the service's human-facing outputs (the page, its live feed, `etc-lane status`; the CLI's tables
 * share the masking) show values: card numbers masked, times in the lane's configured UTC offset (the
 * offset its trade ids and card times use), money in yuan.
 */

/** "43010000000000009001" -> "4301************9001": the network and the last four digits stay. */
export function maskCardId(id: string | null): string {
  if (id === null || id === "") return "-";
  if (id.length <= 8) return "*".repeat(id.length);
  return `${id.slice(0, 4)}${"*".repeat(id.length - 8)}${id.slice(-4)}`;
}

/**
 * 20-character card ids (network 4 + serial 16) standing alone, not inside a longer id or hash: digits, and
 * hex letters too (a card whose 0015 is not BCD is read as hex, src/rsu/driver-common.ts, and is still a
 * card number to keep off a screen). An escape right before the number (`\n`, `\t`, `\x0a`, `\u000a`)
 * counts as a boundary: text that arrived escaped (a station's JSON error body, kept as the lane got it)
 * has a letter or digit there, which would otherwise hide the number.
 */
const CARD_RE =
  /(?:(?<![0-9A-Za-z])|(?<=\\[nrtbfv0])|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4}))([0-9A-Fa-f]{4})[0-9A-Fa-f]{12}([0-9A-Fa-f]{4})(?![0-9A-Za-z])/g;

/**
 * Every card id in a text masked as maskCardId does ("4301************9001"): the messages the lane writes
 * (a suspect's "uncertain debit ... on card <id>", a booth case's detail), JSON of them. The page, its live
 * feed and the CLI's outputs (unless `--full-ids`) pass free text through it.
 */
export function maskCardIds(text: string): string {
  return text.replace(CARD_RE, (_m, a: string, b: string) => `${a}${"*".repeat(12)}${b}`);
}

/**
 * A value with every card id in it masked as maskCardIds masks a text: each string (an object's keys too),
 * through objects and arrays, after a toJSON as JSON.stringify calls it. Mask a value with it first, then
 * serialise or escape it (JSON.stringify, a table's terminalSafe): an escape writes the character before a
 * number as a letter or digit (a newline as `\n` in JSON, `\x0a` in a table), and maskCardIds, which masks
 * a number standing alone only, would then leave it in full. The records, trail entries and status the CLI
 * prints (unless `--full-ids`), the operator commands' outcomes (src/cli/operator-call.ts printOutcome),
 * `etc-lane status` and the page's live feed (./service-feed.ts) are masked through it. A key that masks
 * like one before it (two card numbers sharing their first and last four digits) is numbered: "... #2".
 */
export function maskCardIdsIn(value: unknown): unknown {
  if (typeof value === "string") return maskCardIds(value);
  if (value === null || typeof value !== "object") return value;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return maskCardIdsIn(toJSON.call(value));
  if (Array.isArray(value)) return value.map(maskCardIdsIn);
  const used = new Set<string>();
  const pairs: [string, unknown][] = [];
  for (const [k, v] of Object.entries(value)) {
    const masked = maskCardIds(k);
    let key = masked;
    // a second key that masks alike (two card numbers sharing their first and last four digits) is
    // numbered, not written over the first (a Set: `in` on an object would see "constructor" there)
    for (let n = 2; used.has(key); n++) key = `${masked} #${n}`;
    used.add(key);
    pairs.push([key, maskCardIdsIn(v)]);
  }
  // fromEntries defines each key as its own property ("__proto__" too), as JSON.parse made it
  return Object.fromEntries(pairs);
}

/**
 * A card number as someone typed it (the page's search field, `--card`), masked for showing back: when
 * it holds more than 8 hex digits, every hex digit but the first 4 and the last 4 becomes "*", and the
 * rest (a comma, a space, a letter past f) stays where it was, so a refusal can still show what is wrong
 * with it: "43010000000000009001,43010000000000009002" -> "4301****************,****************9002",
 * "4301 0000 0000 0000 9001" -> "4301 **** **** **** 9001". A valid number comes out as maskCardId shows
 * it. maskCardIds alone would leave a number inside a longer run, or split by spaces, in full.
 */
export function maskTypedCard(value: string): string {
  const hex = /[0-9A-Fa-f]/g;
  const total = value.match(hex)?.length ?? 0;
  if (total <= 8) return value;
  let i = 0;
  return value.replace(hex, (d) => {
    i++;
    return i <= 4 || i > total - 4 ? d : "*";
  });
}

/** Hex digit groups joined by single spaces or dashes: "4301 0000 0000 0000 9001", "2026-11-26 08". */
const HEX_GROUP_RUN = /[0-9A-Fa-f]+(?:[ -][0-9A-Fa-f]+)*/g;

/**
 * A value typed into an option that is not a card number (`--since`, `--until`, `--kind`, `--obu`, `-n`,
 * `--format`, `transactions list --since/--limit`; on the page since, until, obu and kind), masked for
 * showing back in its refusal: only a run that could be a card number, 16 or more hex digits in groups joined by single spaces or dashes, is
 * masked as maskTypedCard masks it (its first 4 and last 4 hex digits kept); the rest stays as typed, so
 * the mistake shows: "2026-13-26 08:00" and "audit.checkpoint-failed" come out as they are, while
 * "4301 0000 0000 0000 9001" -> "4301 **** **** **** 9001" and "43010000000000009001x" ->
 * "4301************9001x". A 16-digit OBU serial is masked as well (a card number cut short looks the same).
 */
export function maskCardRuns(value: string): string {
  return value.replace(HEX_GROUP_RUN, (run) =>
    (run.match(/[0-9A-Fa-f]/g)?.length ?? 0) >= 16 ? maskTypedCard(run) : run,
  );
}

/** A refused option value (not a card number) as its refusal shows it: maskCardRuns, in full with `fullIds`. */
export function shownRefused(value: string, fullIds: boolean | undefined): string {
  return fullIds ? value : maskCardRuns(value);
}

/** shownRefused in quotes (JSON), as a refusal quotes the value it got: `got "2026-13-26 08:00"`. */
export function quotedRefused(value: string, fullIds: boolean | undefined): string {
  return JSON.stringify(shownRefused(value, fullIds));
}

/** Wall ms -> "2026-11-26 08:15:02" in the given UTC offset (minutes east of UTC). */
export function localTime(ms: number | null, utcOffsetMinutes: number): string {
  if (ms === null || !Number.isFinite(ms)) return "-";
  const d = new Date(ms + utcOffsetMinutes * 60_000);
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** "+08:00" */
export function offsetLabel(utcOffsetMinutes: number): string {
  const sign = utcOffsetMinutes < 0 ? "-" : "+";
  const m = Math.abs(utcOffsetMinutes);
  return `${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/** fen -> "12.50" */
export function yuan(fen: number | null): string {
  return fen === null ? "-" : (fen / 100).toFixed(2);
}

/**
 * ms -> "3 h 12 min", "45 s", "850 ms". The value is rounded to the smaller unit shown before it is split,
 * and a unit that rounds up to a whole larger one moves to the next form ("2 min 0 s", never "1 min 60 s").
 */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "-";
  const a = Math.abs(ms);
  const sign = ms < 0 ? "-" : "";
  if (Math.round(a) < 1000) return `${sign}${Math.round(a)} ms`;
  const s = Math.round(a / 1000);
  if (s < 60) return `${sign}${s} s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)} min ${s % 60} s`;
  const min = Math.round(a / 60_000);
  if (min < 24 * 60) return `${sign}${Math.floor(min / 60)} h ${min % 60} min`;
  const h = Math.round(a / 3_600_000);
  return `${sign}${Math.floor(h / 24)} d ${h % 24} h`;
}

/** ms with three significant digits: "0.412 ms", "12.3 ms" */
export function ms3(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  return `${v < 10 ? v.toFixed(3) : v < 100 ? v.toFixed(1) : Math.round(v).toString()} ms`;
}

/** Chinese and English name of a lane status, as at the booth. */
export const LANE_STATUS_LABEL: Record<string, { zh: string; en: string }> = {
  starting: { zh: "启动中", en: "STARTING" },
  open: { zh: "开放", en: "OPEN" },
  closed: { zh: "关闭", en: "CLOSED" },
  stopping: { zh: "停止中", en: "STOPPING" },
};

export const KIND_LABEL: Record<string, { zh: string; en: string }> = {
  transaction: { zh: "交易", en: "paid" },
  stop: { zh: "拦截", en: "stopped" },
  suspect: { zh: "可疑", en: "suspect" },
};
