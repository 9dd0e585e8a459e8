/**
 * `npm run bench [-- --json] [-- --only NAME[,NAME]] [-- --all] [-- --scale X] [-- --untuned]`.
 * Never part of `npm test`. Benchmarks register in ./registry.ts.
 */

import { describeTuning, tuneLaneProcess } from "../../src/lane/process-tuning.js";
import type { BenchResult } from "./harness.js";
import { benchmarks } from "./registry.js";

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toPrecision(3);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(
      "npm run bench [-- --json] [-- --only NAME[,NAME]] [-- --all] [-- --scale X] [-- --untuned]\n" +
        benchmarks
          .map((b) => `  ${b.name.padEnd(22)} ${b.title}${b.heavy ? " (heavy: --all or --only)" : ""}`)
          .join("\n") +
        "\n",
    );
    return;
  }
  const valued = new Set(["--only", "--scale"]);
  const flags = new Set(["--json", "--all", "--untuned", ...valued]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (!flags.has(a)) {
      process.stderr.write(`bench: unknown argument "${a}" (--help lists the options and benchmarks)\n`);
      process.exit(2);
    }
    if (valued.has(a)) i++;
  }
  const json = args.includes("--json");
  const all = args.includes("--all");
  const onlyIdx = args.indexOf("--only");
  const only = onlyIdx >= 0 ? (args[onlyIdx + 1] ?? "").split(",").filter(Boolean) : [];
  const scaleIdx = args.indexOf("--scale");
  const scale = scaleIdx >= 0 ? Number(args[scaleIdx + 1]) : 1;
  if (!(scale > 0)) throw new Error("--scale expects a positive number");
  // the benchmarks measure the lane as its launcher runs it; --untuned measures without that tuning
  const tuning = args.includes("--untuned") ? null : await tuneLaneProcess();
  const v8Flags = tuning ? describeTuning(tuning) : [];
  const unknown = only.filter((n) => !benchmarks.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}\n`,
    );
    process.exit(2);
  }
  const chosen = benchmarks.filter((b) => (only.length ? only.includes(b.name) : all || !b.heavy));
  const log = (line: string): void => {
    if (!json) process.stderr.write(`${line}\n`);
  };
  if (!json) {
    const skipped = benchmarks.filter((b) => !chosen.includes(b));
    process.stdout.write(
      `etc-lane benchmarks on ${process.version}, ${process.platform}/${process.arch}, lane process tuning: ${v8Flags.join(", ") || "none (--untuned)"}\n`,
    );
    const heavy = skipped.filter((b) => b.heavy);
    const left = skipped.filter((b) => !b.heavy);
    if (left.length) process.stdout.write(`(not chosen by --only: ${left.map((b) => b.name).join(", ")})\n`);
    if (heavy.length)
      process.stdout.write(`(heavy, run with --all or --only: ${heavy.map((b) => b.name).join(", ")})\n`);
  }
  for (const b of chosen) {
    log(`== ${b.name}: ${b.title}`);
    const results: BenchResult[] = await b.run({ scale, log, untuned: tuning === null });
    for (const r of results) {
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ name: r.name, unit: r.unit, ...r.figures, ...(r.notes ? { notes: r.notes } : {}) })}\n`,
        );
      } else {
        const figs = Object.entries(r.figures)
          .map(([k, v]) => `${k}=${fmt(v)}`)
          .join("  ");
        process.stdout.write(
          `${r.name.padEnd(40)} ${r.unit.padEnd(10)} ${figs}${r.notes ? `  (${r.notes})` : ""}\n`,
        );
      }
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
