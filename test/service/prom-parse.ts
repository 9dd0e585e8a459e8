/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: every line must be a HELP,
 * a TYPE or a sample of a declared family; names, label syntax and escapes, and values are checked; a
 * series may appear once; histogram buckets must be cumulative with an +Inf bucket equal to _count.
 * Throws an Error naming the line on the first violation.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string | null;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, where: string): number {
  // Go's strconv.ParseFloat, which Prometheus uses, takes NaN and Inf in any letter case ("Nan" included)
  if (/^nan$/i.test(s)) return Number.NaN;
  const inf = /^([-+]?)inf(inity)?$/i.exec(s);
  if (inf) return inf[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

function parseLabels(s: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf("=", i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (s[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let v = "";
    for (;;) {
      const c = s[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const n = s[j + 1];
        if (n === "n") v += "\n";
        else if (n === "\\" || n === '"') v += n;
        else throw new Error(`${where}: bad escape \\${n}`);
        j += 2;
        continue;
      }
      if (c === "\n") throw new Error(`${where}: newline in label value`);
      v += c;
      j++;
    }
    if (name in out) throw new Error(`${where}: label "${name}" twice`);
    out[name] = v;
    j++;
    if (s[j] === ",") j++;
    else if (j !== s.length) throw new Error(`${where}: expected "," or "}" after label "${name}"`);
    i = j;
  }
  return out;
}

function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1} "${line.slice(0, 80)}"`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kw, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      let f = families.get(name);
      if (kw === "TYPE") {
        const t = rest ?? "";
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(t))
          throw new Error(`${where}: bad type "${t}"`);
        if (f?.samples.length) throw new Error(`${where}: TYPE after samples`);
        if (!f) {
          f = { name, type: t as Family["type"], help: null, samples: [] };
          families.set(name, f);
        } else f.type = t as Family["type"];
      } else {
        if (!f) {
          f = { name, type: "untyped", help: null, samples: [] };
          families.set(name, f);
        }
        if (f.help !== null) throw new Error(`${where}: second HELP`);
        f.help = rest ?? "";
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample line`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels = labelText ? parseLabels(labelText, where) : {};
    const value = parseValue(valueText, where);
    const f = familyOf(name, families);
    if (!f) throw new Error(`${where}: sample of an undeclared family (no TYPE)`);
    const key = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
    if (seen.has(key)) throw new Error(`${where}: series ${key} twice`);
    seen.add(key);
    if (f.type === "counter" && !(value >= 0)) throw new Error(`${where}: negative or NaN counter`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      g.buckets.push([parseValue(le, `${f.name} le`), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, g] of groups) {
    const b = [...g.buckets].sort((x, y) => x[0] - y[0]);
    const inf = b[b.length - 1];
    if (!inf || inf[0] !== Number.POSITIVE_INFINITY) throw new Error(`${f.name}${key}: no +Inf bucket`);
    for (let i = 1; i < b.length; i++)
      if ((b[i] as [number, number])[1] < (b[i - 1] as [number, number])[1])
        throw new Error(`${f.name}${key}: buckets not cumulative`);
    if (g.count === undefined || g.sum === undefined)
      throw new Error(`${f.name}${key}: _count or _sum missing`);
    if (inf[1] !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} != _count ${g.count}`);
  }
}

/** The value of one series, or undefined. */
export function sampleValue(
  fams: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of fams.values())
    for (const s of f.samples)
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
  return undefined;
}
