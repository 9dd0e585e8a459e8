/**
 * `etc-lane decode`: the protocol analyser for maintenance staff and integration testers.
 * Hex from the arguments (one stream), from stdin (one stream, however it is wrapped into lines; with
 * `--per-line` each line a stream of its own), or a
 * wire capture (`--capture FILE...`, docs/capture.md); one JSON object per frame found, whatever its
 * body (src/rsu/analyse.ts). Exit status 0 only when every frame decoded fully (and, for a capture, when
 * nothing was discarded, no block skipped and every file read to its end).
 */
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { cutPackets, openCapture } from "../../../firmware-bridge/capture/read-capture.js";
import { escapeRawBytesInJson } from "../../../firmware-bridge/frames/gbk-text.js";
import { fromHex, hexDigits } from "../../../firmware-bridge/framing/bytes.js";
import { MAX_RSU_FRAME_LENGTH, MIN_RSU_FRAME_LENGTH } from "../../../firmware-bridge/link/options.js";
import { READER_CAPTURE_PROTOCOL } from "../../../firmware-bridge/reader/frame.js";
import { MAX_READER_FRAME_LENGTH, MIN_READER_FRAME_LENGTH } from "../../../firmware-bridge/reader/options.js";
import { type DecodedLine, decodeFrameBytes } from "../../rsu/analyse.js";
import { type TimelineOptions, timelineEntries } from "../../rsu/analyse-capture.js";
import { maskCaptureLine } from "../../rsu/mask-capture.js";
import { capturePortDialect, type DialectOptions, dialectFromOptions } from "../dialect-options.js";
import { UsageError } from "../run-cli.js";

interface DecodeOpts extends DialectOptions {
  protocol?: string;
  capture?: string[];
  interByteMs?: string;
  maxFrameLength?: string;
  perLine?: boolean;
  fullIds?: boolean;
}

/** `--inter-byte-ms` and `--max-frame-length`, checked (the ranges the lane's config accepts). */
function limitsFromOptions(o: DecodeOpts): TimelineOptions {
  const num = (name: string, v: string, min: number, max: number, integer: boolean): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
      throw new UsageError(
        `${name}: expected ${integer ? "an integer" : "a number"} ${min}..${max}, got "${v}"`,
      );
    return n;
  };
  return {
    ...(o.interByteMs !== undefined
      ? { interByteMs: num("--inter-byte-ms", o.interByteMs, 1, 5000, false) }
      : {}),
    ...(o.maxFrameLength !== undefined
      ? {
          maxFrameLength: num(
            "--max-frame-length",
            o.maxFrameLength,
            MIN_RSU_FRAME_LENGTH,
            MAX_READER_FRAME_LENGTH,
            true,
          ),
        }
      : {}),
  };
}

/**
 * `--max-frame-length` applies to every port of the capture: each port's kind has its own range, the one
 * the lane's config accepts for it (the reader's `reader.link.maxFrameLength` 512..65544, src/config/schema.ts;
 * the RSU link's `deframer.maxFrameLength` 284..65536, firmware-bridge/link/options.ts). A value no lane could
 * have run that port with is refused, naming the port.
 */
function checkFrameLimitPerPort(
  ports: readonly { name: string; speaks?: string }[],
  max: number | undefined,
  given: string | undefined,
): void {
  if (max === undefined) return;
  for (const p of ports) {
    const reader = p.speaks === READER_CAPTURE_PROTOCOL;
    const [lo, hi, setting] = reader
      ? [MIN_READER_FRAME_LENGTH, MAX_READER_FRAME_LENGTH, "reader.link.maxFrameLength"]
      : [MIN_RSU_FRAME_LENGTH, MAX_RSU_FRAME_LENGTH, "the RSU link's deframer.maxFrameLength"];
    if (max < lo || max > hi)
      throw new UsageError(
        `--max-frame-length: the capture's ${reader ? "reader" : "RSU"} port "${p.name}" takes ${lo}..${hi} (${setting}), got "${given}"`,
      );
  }
}

/** Prints frames on stdout and problems on stderr; returns how many lines were not a complete frame. */
function emit(lines: DecodedLine[], where: string): number {
  let problems = 0;
  for (const l of lines) {
    if (l.kind === "frame") {
      process.stdout.write(`${escapeRawBytesInJson(JSON.stringify(l.json))}\n`);
      if (!l.complete) {
        problems++;
        if (typeof l.json.reason === "string")
          process.stderr.write(
            `${where}: ${String(l.json.type)} frame not fully decoded: ${l.json.reason}\n`,
          );
      }
    } else {
      problems++;
      process.stderr.write(`${l.message}\n`);
    }
  }
  return problems;
}

export function registerDecode(program: Command): void {
  program
    .command("decode")
    .description(
      "decode RSU frames from hex (arguments, or stdin as one stream; --per-line: each line on its own) or from a wire capture to JSON, one object per frame",
    )
    .option(
      "--protocol <variant>",
      "wire format: legacy (BCC) or national (CRC16); a capture says its own, and the lane's dialect (the options below override it)",
    )
    .option(
      "--capture <files...>",
      "a wire capture (pcapng files in order; the files of several runs are read run after run)",
    )
    .option("--station-length <n>", "legacy C6 Station width: 40 or 36 (C3 Station is always 36)")
    .option("--last-station-length <n>", "legacy B4 LastStation width: 43 or 39")
    .option(
      "--time-base <base>",
      "4-byte time fields of the RSU's frames: local-as-utc or utc (legacy default local-as-utc, national utc); their instants are printed in derived.times",
    )
    .option(
      "--card-time-base <base>",
      "the time of a 0019 record (C6/C3 Station, B4 LastStation): local-as-utc (default, both protocols) or utc",
    )
    .option(
      "--utc-offset <minutes>",
      "the RSU's local time for local-as-utc: minutes east of UTC (default 480, or what a capture recorded)",
    )
    // --ef04 first: commander then gives ef04 no default, which would override what a capture recorded
    .option("--ef04", "national B4 with the 91-byte EF04 block (the national default)")
    .option("--no-ef04", "national B4 without the 91-byte EF04 block")
    .option("--b2-antenna-id", "national B2 with the 1-byte AntennaID after ErrorCode")
    .option("--no-b2-antenna-id", "national B2 without the AntennaID (the default)")
    .option(
      "--inter-byte-ms <ms>",
      "with --capture: a half frame is dropped after this silence (default: what the capture recorded, else 50)",
    )
    .option(
      "--max-frame-length <bytes>",
      "with --capture: larger frame candidates are discarded (default: what the capture recorded, else 65536, 65544 on the reader's port)",
    )
    .option(
      "--per-line",
      "stdin: decode each line as a stream of its own (default: all of stdin as one stream)",
    )
    .option(
      "--full-ids",
      "with --capture: card numbers and frame bytes in full (default: masked as the lane's log masks them)",
    )
    .argument("[hex...]", "frame bytes in hex; spaces allowed")
    .action(async (hexArgs: string[], opts: DecodeOpts) => {
      if (opts.capture) {
        if (hexArgs.length > 0) throw new UsageError("give either hex or --capture, not both");
        await decodeCapture(opts.capture, opts);
        return;
      }
      if (opts.interByteMs !== undefined || opts.maxFrameLength !== undefined)
        throw new UsageError("--inter-byte-ms and --max-frame-length go with --capture");
      if (opts.fullIds) throw new UsageError("--full-ids goes with --capture (hex given is shown as given)");
      if (opts.protocol === undefined) throw new UsageError('--protocol: required ("legacy" or "national")');
      const d = dialectFromOptions({ ...opts, protocol: opts.protocol });
      let problems = 0;
      let frames = 0;
      // The failure is the exit status as soon as a problem is counted, not only once stdin ends: a reader
      // of stdout gone while stdin is still open ends the command with the status so far (../stdout-errors.ts
      // quitOnBrokenPipe), which must not be 0 after a problem was reported on stderr.
      const countProblems = (n: number): void => {
        problems += n;
        if (problems > 0) process.exitCode = 1;
      };
      const decode = (bytes: Buffer, where: string): void => {
        const out = decodeFrameBytes(bytes, d, where);
        frames += out.filter((l) => l.kind === "frame").length;
        countProblems(emit(out, where));
      };
      const handle = (text: string, where: string): void => {
        if (text.trim() === "") return;
        let bytes: Buffer;
        try {
          bytes = fromHex(text);
        } catch (e) {
          countProblems(1);
          process.stderr.write(`${where}: ${(e as Error).message}\n`);
          return;
        }
        decode(bytes, where);
      };
      if (hexArgs.length > 0) {
        if (opts.perLine) throw new UsageError("--per-line is for stdin, not for hex arguments");
        handle(hexArgs.join(" "), "input");
      } else {
        if (process.stdin.isTTY) throw new UsageError("give hex frames as arguments or on stdin");
        const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        let n = 0;
        if (opts.perLine) {
          for await (const line of rl) handle(line, `line ${++n}`);
        } else {
          // One stream, however the hex is wrapped (`xxd -p` wraps at 60 digits): a line that is not hex is
          // reported and left out, the rest is decoded as one run of bytes.
          let digits = "";
          for await (const line of rl) {
            n++;
            try {
              digits += hexDigits(line);
            } catch (e) {
              countProblems(1);
              process.stderr.write(`stdin line ${n}: ${(e as Error).message} (the line is left out)\n`);
            }
          }
          if (digits.length % 2 === 1) {
            countProblems(1);
            process.stderr.write(
              `stdin: an odd number of hex digits (${digits.length}): the last one, "${digits.slice(-1)}", is left out\n`,
            );
            digits = digits.slice(0, -1);
          }
          if (digits.length > 0) decode(Buffer.from(digits, "hex"), "stdin");
        }
      }
      if (frames === 0 && problems === 0) {
        process.stderr.write("no frame found in the input\n");
        countProblems(1);
      }
    });
}

/** How many timeline entries `decode --capture` prints between two turns of the event loop. */
export const DECODE_TURN_ENTRIES = 1024;

/**
 * `--capture`: the capture as a timeline, one JSON object per frame, discarded run and port state, each
 * printed as soon as it is decoded. The files are read a block at a time (firmware-bridge/capture/pcapng.ts
 * fileSource), once to learn their runs and ports and once for the records (openCapture), so memory does
 * not grow with the capture and a failure part way leaves every line before it printed. Card numbers and
 * frame bytes are masked (src/rsu/mask-capture.ts) unless `--full-ids`. The event loop turns every
 * DECODE_TURN_ENTRIES entries: the card reader's deframer cuts each frame it accepts with a
 * `@serialport/parser-byte-length` stream (firmware-bridge/reader/deframer.ts), whose clean-up runs on
 * the next tick, so a capture decoded in one turn would keep every reader frame's stream until the end.
 */
async function decodeCapture(files: string[], opts: DecodeOpts): Promise<void> {
  const limits = limitsFromOptions(opts);
  const cap = openCapture(files);
  checkFrameLimitPerPort(cap.ports, limits.maxFrameLength, opts.maxFrameLength);
  const unreadable = cap.unreadable ?? [];
  const cut = cap.cut ?? [];
  // every block skipped and packet cut, also those past the first of a file (named in one line each)
  const skippedBlocks = cap.skippedBlocks ?? cap.skipped.length;
  const cutCount = cutPackets(cut);
  for (const why of unreadable) process.stderr.write(`${why} (that file is not read)\n`);
  for (const why of cap.skipped) process.stderr.write(`${why}\n`);
  for (const why of cap.truncated) process.stderr.write(`${why} (that file is read up to there)\n`);
  for (const { why } of cut) process.stderr.write(`${why}\n`);
  for (const w of cap.warnings ?? []) process.stderr.write(`${w}\n`);
  // what was found so far is the exit status as soon as it is known (a reader of stdout gone ends the
  // command with the status so far, ../stdout-errors.ts)
  if (unreadable.length > 0 || skippedBlocks > 0 || cap.truncated.length > 0 || cutCount > 0)
    process.exitCode = 1;
  const timeline = timelineEntries(
    { runs: cap.runs, ports: cap.ports, records: cap.records() },
    (port) => {
      const d = capturePortDialect(port, opts.protocol, opts);
      if (d === undefined)
        throw new UsageError(`capture port "${port.name}" does not say its protocol: give --protocol`);
      return d;
    },
    limits,
  );
  let incomplete = 0;
  // the lines naming the runs of a capture of several are not bytes
  let empty = true;
  let failed: string | undefined;
  try {
    let sinceTurn = 0;
    for (const e of timeline) {
      if (++sinceTurn === DECODE_TURN_ENTRIES) {
        sinceTurn = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const json = opts.fullIds ? e.json : maskCaptureLine(e.json);
      process.stdout.write(`${escapeRawBytesInJson(JSON.stringify(json))}\n`);
      if (e.json.run === undefined) empty = false;
      if (!e.complete) {
        incomplete++;
        process.exitCode = 1;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    failed = (e as Error).message;
  }
  if (failed !== undefined) process.stderr.write(`${failed}: the capture is shown up to there\n`);
  else if (empty) process.stderr.write("the capture holds no bytes\n");
  if (incomplete > 0)
    process.stderr.write(
      `${incomplete} entr${incomplete === 1 ? "y" : "ies"} not fully decoded (see "reason" and "discarded")\n`,
    );
  if (unreadable.length > 0)
    process.stderr.write(
      `${unreadable.length} capture file(s) not read (named above; the others were read)\n`,
    );
  if (skippedBlocks > 0)
    process.stderr.write(
      `${skippedBlocks} capture block(s) skipped (not readable; the blocks after them were read)\n`,
    );
  // A file whose reading stopped early may hold much more than was printed (a bad length word mid-file).
  if (cap.truncated.length > 0)
    process.stderr.write(
      `${cap.truncated.length} capture file(s) not read to their end (what comes after the place named above is not shown)\n`,
    );
  if (cutCount > 0)
    process.stderr.write(
      `${cutCount} captured packet(s) cut short by a snap length (named above; their bytes are shown as discarded, not decoded)\n`,
    );
  if (incomplete > 0 || empty || failed !== undefined || unreadable.length > 0) process.exitCode = 1;
  if (skippedBlocks > 0 || cap.truncated.length > 0 || cutCount > 0) process.exitCode = 1;
}
