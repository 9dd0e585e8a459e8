/**
 * `etc-sim status-list build|generate`: the station side of the status list. Bundles are signed with the
 * simulator's TEST key (config/keys/station-test.key.pem) unless --key names another.
 */
import { createWriteStream, readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../../../src/cli/run-cli.js";
import { realCalendarTime } from "../../../src/local-time.js";
import { isValidVersion } from "../../../src/status-list/index.js";
import {
  buildBundle,
  generateBundleFile,
  generateCsv,
  parseListCsv,
  TEST_PRIVATE_KEY_PATH,
  versionAt,
} from "../../status-list/index.js";

function readKey(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(
      `cannot read private key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function version(name: string, v: string): string {
  if (!isValidVersion(v)) throw new UsageError(`${name}: expected yyyyMMddhhmm, got "${v}"`);
  return v;
}

function count(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 200_000_000)
    throw new UsageError(`${name}: expected a count 0-200000000, got "${v}"`);
  return n;
}

/** An ISO date-time with its offset from UTC: seconds and milliseconds optional. */
const CREATED_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)$/;

/**
 * `--created`: an ISO date-time with its offset (Z or +08:00), never read in this machine's zone (a time
 * without one is refused, as is a time that does not exist or one before 1970, which the header cannot
 * hold: ms since the epoch, unsigned).
 */
function created(v: string | undefined): number {
  if (v === undefined) return Date.now();
  const m = CREATED_RE.exec(v);
  const t = Date.parse(v);
  const [y, mo, d, h, mi, sec] = (m?.slice(1, 7) ?? []).map((x) => Number(x ?? 0));
  if (!m || !realCalendarTime(y!, mo!, d!, h!, mi!, sec!) || Number.isNaN(t) || t < 0)
    throw new UsageError(
      `--created: expected an ISO date-time from 1970 on with its offset from UTC, such as ` +
        `2026-11-23T08:00:00+08:00 or 2026-11-23T00:00:00Z, got "${v}"`,
    );
  return t;
}

export function registerStatusList(program: Command): void {
  // `build --version V` is this command's own option: the program's -V/--version must only be recognised
  // before a sub-command (commander's positional options), not swallow ours.
  program.enablePositionalOptions();
  const sl = program
    .command("status-list")
    .description("station side of the status list: build and generate signed bundles");

  sl.command("build")
    .description(
      "build a signed bundle from CSV rows kind,id,listType,reason[,op] (kind card|obu; listType 1-255 or a name; " +
        "op add|remove, default add, deltas only)",
    )
    .requiredOption("--from <csv>", "CSV file")
    .requiredOption("--version <v>", "list version yyyyMMddhhmm")
    .option("--base <v>", "for a delta: the version it applies on (makes the bundle a delta)")
    .requiredOption("--out <file>", "bundle file to write")
    .option("--key <pem>", "station Ed25519 private key (PEM)", TEST_PRIVATE_KEY_PATH)
    .option(
      "--created <iso>",
      "issue time, an ISO date-time with its offset (2026-11-23T08:00:00+08:00, or Z; default now); the lane measures the list's age from it",
    )
    .action(
      (o: { from: string; version: string; base?: string; out: string; key: string; created?: string }) => {
        let text: string;
        try {
          text = readFileSync(o.from, "utf8");
        } catch (e) {
          throw new UsageError(
            `cannot read ${o.from}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          );
        }
        const rows = parseListCsv(text);
        const bundle = buildBundle({
          kind: o.base === undefined ? "full" : "delta",
          version: version("--version", o.version),
          ...(o.base !== undefined ? { base: version("--base", o.base) } : {}),
          createdAt: created(o.created),
          rows,
          privateKeyPem: readKey(o.key),
        });
        writeFileSync(o.out, bundle);
        process.stderr.write(
          `${o.out}: ${o.base === undefined ? "full list" : `delta on ${o.base}`} ${o.version}, ${rows.length} rows, ${bundle.length} bytes\n`,
        );
      },
    );

  sl.command("generate")
    .description(
      "a synthetic national-size list for benchmarks, streamed: a signed full bundle, or CSV (*.csv or stdout)",
    )
    .requiredOption("--cards <n>", "card entries")
    .requiredOption("--obus <n>", "OBU entries")
    .option("--out <file>", "output file; *.csv or absent = CSV, else a signed full bundle")
    .option("--seed <s>", "random seed", "1")
    .option("--version <v>", "list version for a bundle (default now, UTC+8)")
    .option("--key <pem>", "station Ed25519 private key (PEM)", TEST_PRIVATE_KEY_PATH)
    .action(
      async (o: {
        cards: string;
        obus: string;
        out?: string;
        seed: string;
        version?: string;
        key: string;
      }) => {
        const opts = {
          cards: count("--cards", o.cards),
          obus: count("--obus", o.obus),
          seed: count("--seed", o.seed),
        };
        if (o.out === undefined || o.out.endsWith(".csv")) {
          const out = o.out === undefined ? process.stdout : createWriteStream(o.out);
          const n = await generateCsv(opts, out);
          if (o.out !== undefined)
            await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(() => r()));
          process.stderr.write(`${n} rows\n`);
          return;
        }
        const total = opts.cards + opts.obus;
        const r = generateBundleFile(o.out, {
          ...opts,
          version: o.version === undefined ? versionAt(Date.now()) : version("--version", o.version),
          privateKeyPem: readKey(o.key),
          onProgress: (done) =>
            process.stderr.write(`generate ${Math.floor((100 * done) / total)}% (${done}/${total})\n`),
        });
        process.stderr.write(`${o.out}: full list, ${r.records} entries, ${r.bytes} bytes\n`);
      },
    );
}
