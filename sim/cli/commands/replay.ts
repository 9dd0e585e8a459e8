/**
 * `etc-sim replay FILE...`: plays a wire capture's RSU side back against a lane (ours or anyone's),
 * at the recorded pace, over a serial port, a pseudo-terminal or TCP (docs/capture.md). stdout: where
 * the lane connects, then one line per RSU frame sent and per place where the lane differs from the
 * recorded one, then a summary. Exit status 0 when the lane sent every frame the recorded lane sent and the
 * capture was read whole.
 */
import type { Command } from "commander";
import { cutPackets, openCapture } from "../../../firmware-bridge/capture/read-capture.js";
import { READER_CAPTURE_PROTOCOL } from "../../../firmware-bridge/reader/frame.js";
import { capturePortDialect, type DialectOptions } from "../../../src/cli/dialect-options.js";
import { UsageError } from "../../../src/cli/run-cli.js";
import { CaptureReplay, replayScript } from "../../replay/replay.js";
import { openEndpoint } from "../endpoint.js";
import { LOG_LEVEL_HELP, stderrLogger } from "../log-level.js";

/** The dialect options that change frame layouts (times are not read by a replay). */
type LayoutOptions = Pick<DialectOptions, "stationLength" | "lastStationLength" | "ef04" | "b2AntennaId">;

interface ReplayOpts extends LayoutOptions {
  port?: string;
  pty?: boolean;
  tcp?: string;
  protocol?: string;
  capturePort: string;
  rsuSide: string;
  speed: string;
  waitMs: string;
  verbatim?: boolean;
  logLevel: string;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name}: expected a positive number, got "${v}"`);
  return n;
}

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("play a wire capture's RSU side back against a lane, at the recorded pace")
    .argument(
      "<files...>",
      "the capture (pcapng files in order; the files of several runs are played run after run)",
    )
    .option("--port <path>", "serial device to open (115200 8N1)")
    .option("--pty", "create a pseudo-terminal for the lane; prints `lane-port: /dev/pts/N` first")
    .option("--tcp <host:port>", "listen; the lane connects as client")
    .option("--protocol <variant>", "legacy or national (default: what the capture says)")
    .option(
      "--station-length <n>",
      "legacy C6 Station width the lane sends: 40 or 36 (default: what the capture recorded, else 40)",
    )
    .option(
      "--last-station-length <n>",
      "legacy B4 LastStation width: 43 or 39 (default: what the capture recorded, else 43)",
    )
    // --ef04 first: commander then gives ef04 no default, which would override what the capture recorded
    .option("--ef04", "national B4 with the 91-byte EF04 block (default: what the capture recorded, else on)")
    .option("--no-ef04", "national B4 without the 91-byte EF04 block")
    .option(
      "--b2-antenna-id",
      "national B2 with the 1-byte AntennaID after ErrorCode (default: what the capture recorded, else off)",
    )
    .option("--no-b2-antenna-id", "national B2 without the AntennaID")
    .option("--capture-port <name>", "the captured port to replay", "rsu")
    .option("--rsu-side <dir>", "rx: the lane took the capture (default); tx: the RSU side did", "rx")
    .option("--speed <x>", "play x times faster than recorded", "1")
    .option("--wait-ms <n>", "how long to wait for each lane frame the recorded lane sent", "5000")
    .option(
      "--verbatim",
      "send every byte as recorded (default: a lone B5 frame gets the TransTime of the lane's last C6/C3)",
    )
    .option("--log-level <level>", LOG_LEVEL_HELP, "warn")
    .action(async (files: string[], o: ReplayOpts) => {
      const logger = stderrLogger(o.logLevel); // first: a bad --log-level is refused before any file is read
      if (o.rsuSide !== "rx" && o.rsuSide !== "tx") throw new UsageError('--rsu-side: expected "rx" or "tx"');
      const speed = positive("--speed", o.speed);
      const waitMs = positive("--wait-ms", o.waitMs);
      // what the files hold, read through once; their records are read again, one at a time, for the script
      const cap = openCapture(files);
      // A replay plays what crossed the wire: a file left out or a chunk of the replayed port cut to a snap
      // length would play bytes the lane never got, as if recorded (a chunk cut on another port is not played).
      if ((cap.unreadable ?? []).length > 0)
        throw new UsageError(
          `${(cap.unreadable ?? []).join("; ")}: a replay needs every file of the capture read (give only readable files)`,
        );
      const cut = (cap.cut ?? []).filter((c) => c.port === o.capturePort);
      if (cut.length > 0)
        throw new UsageError(
          `${cutPackets(cut)} captured packet(s) of port "${o.capturePort}" cut short by a snap length, the first ${cut[0]?.why}: a replay would send bytes that never crossed the wire as they did`,
        );
      for (const why of cap.skipped) process.stderr.write(`${why}\n`);
      const skippedBlocks = cap.skippedBlocks ?? cap.skipped.length;
      for (const why of cap.truncated) process.stderr.write(`${why} (that file is read up to there)\n`);
      for (const w of cap.warnings ?? []) process.stderr.write(`${w}\n`);
      // the port in every run that has it (several files of several runs: each run describes its own ports)
      const described = cap.ports.filter((p) => p.name === o.capturePort);
      const port = described[0];
      if (!port) {
        const names = [...new Set(cap.ports.map((p) => p.name))];
        throw new UsageError(
          `the capture has no port "${o.capturePort}" (it has: ${names.join(", ") || "none"})`,
        );
      }
      // a port that says it speaks something else (the booth card reader's etc-reader) is no RSU port:
      // no --protocol makes its frames RSU frames
      for (const p of described) {
        if (p.protocol === undefined && p.speaks !== undefined) {
          const rsuPorts = [...new Set(cap.ports.filter((q) => q.protocol !== undefined).map((q) => q.name))];
          const what = p.speaks === READER_CAPTURE_PROTOCOL ? "the booth card reader's" : "not an RSU's";
          throw new UsageError(
            `--capture-port: port "${p.name}" is ${what} (protocol=${p.speaks}); the replay plays an RSU port ` +
              `(this capture has: ${rsuPorts.join(", ") || "none"})`,
          );
        }
      }
      const dialect = capturePortDialect(port, o.protocol, o);
      if (dialect === undefined) {
        throw new UsageError(`capture port "${port.name}" does not say its protocol: give --protocol`);
      }
      // One dialect reads the lane under test's frames for the whole replay: runs whose port was set up
      // differently (the lane restarted with another protocol or layout) are replayed one at a time.
      for (const p of described.slice(1)) {
        const other = capturePortDialect(p, o.protocol, o);
        if (JSON.stringify(other) !== JSON.stringify(dialect)) {
          const files = (q: typeof p): string => cap.runs?.[q.run ?? 0]?.files[0] ?? "?";
          throw new UsageError(
            `port "${port.name}" is "${port.description}" in ${files(port)} but "${p.description}" in ${files(p)}: ` +
              "a replay reads the lane with one dialect; replay those runs' files one at a time",
          );
        }
      }
      const script = replayScript({ ...cap, records: cap.records() }, dialect, port.name, o.rsuSide);
      const endpoint = await openEndpoint(o, logger);
      const replay = new CaptureReplay({
        transport: endpoint.transport,
        dialect,
        script,
        speed,
        waitMs,
        echoPurchaseTime: o.verbatim !== true,
      });
      replay.events$.subscribe((e) => {
        const t = `[${(e.at / 1000).toFixed(3).padStart(9)}s]`;
        if (e.type === "sent")
          process.stdout.write(
            `${t} sent ${e.frames.join(" ") || `${e.bytes} byte(s), no whole frame`} (recorded at ${(e.recordedT / 1000).toFixed(3)}s)\n`,
          );
        else if (e.type === "echoed")
          process.stdout.write(
            `${t} B5 TransTime ${e.recorded} -> ${e.sent} (the PurchaseTime of the lane's last C6/C3)\n`,
          );
        else if (e.type === "unread")
          process.stdout.write(
            `${t} the lane's ${e.frame} does not decode with the replay's dialect (${e.why}): its PurchaseTime cannot be read, so B5s answering such frames go out with their recorded TransTime (said once; give the lane's dialect: --station-length, --last-station-length, --[no-]ef04, --[no-]b2-antenna-id)\n`,
          );
        else if (e.type === "skipped")
          process.stdout.write(
            `${t} left out the RSU's repeat of ${e.frames.join(" ")} (recorded at ${(e.recordedT / 1000).toFixed(3)}s): the lane had already sent ${e.answer}\n`,
          );
        else if (e.type === "diverged") process.stdout.write(`${t} differs: ${e.message}\n`);
      });
      await replay.start();
      let interrupted = false;
      const onSignal = (): void => {
        interrupted = true;
        void replay.stop();
      };
      // a SIGTERM right after the first line (a supervisor that read it) already finds its handler
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      process.stdout.write(`${endpoint.where}\n`);
      const r = await replay.run();
      await replay.stop();
      await endpoint.close();
      // A capture not read whole (a file cut short or empty, a block skipped) was replayed only in part:
      // the summary says so and the exit status is 1, as `etc-lane decode --capture` does.
      const unread = [
        ...(cap.truncated.length > 0
          ? [`${cap.truncated.length} capture file(s) not read to their end`]
          : []),
        ...(skippedBlocks > 0 ? [`${skippedBlocks} block(s) skipped`] : []),
      ];
      process.stdout.write(
        `replayed: ${r.steps} RSU write(s); the lane sent ${r.matched} of the ${r.expected} frame(s) the recorded lane sent; ${r.divergences.length} difference(s)${interrupted ? " (interrupted)" : ""}${unread.length > 0 ? ` (only what was read was replayed: ${unread.join(", ")})` : ""}\n`,
      );
      process.exitCode = r.matched === r.expected && !interrupted && unread.length === 0 ? 0 : 1;
    });
}
