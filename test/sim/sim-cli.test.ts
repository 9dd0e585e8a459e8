/**
 * `etc-sim` as a user meets it: `--tcp` and `--port` name themselves when their value is wrong
 * (sim/cli/endpoint.ts, sim/cli/options.ts), as `--seed` does (sim/cli/options.ts, for `rsu` and
 * `reader`); a replay stopped while it waits
 * without a limit says so (sim/replay/replay.ts); and a simulator whose stdout reader went away
 * (`etc-sim reader --pty | head -2`) still shuts down cleanly on SIGTERM, its EPIPE ignored
 * (sim/cli/stdout-epipe.ts).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { registerRsu } from "../../sim/cli/commands/rsu.js";
import { openEndpoint } from "../../sim/cli/endpoint.js";
import { ROOT } from "../../sim/harness/procs.js";
import { CaptureReplay, type ReplayScript } from "../../sim/replay/replay.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { runCli } from "../helpers/cli.js";

describe("etc-sim --tcp", () => {
  it("refuses a port out of range or no port, naming --tcp and what it takes", async () => {
    // "": `--tcp=$RSU_ADDR` with the variable unset (it fell through to the serial port's error)
    for (const tcp of ["127.0.0.1:99999", "127.0.0.1", ":21003", "127.0.0.1:-1", ""]) {
      const e = await openEndpoint({ tcp }, silentLogger).catch((x: unknown) => x);
      expect(e, tcp).toBeInstanceOf(UsageError);
      expect((e as Error).message).toBe(
        `--tcp: expected HOST:PORT with a port in 0..65535 (0: any free port), e.g. 127.0.0.1:21003, got "${tcp}"`,
      );
    }
  });

  it("names --tcp when the address cannot be listened on", async () => {
    // 192.0.2.1 (TEST-NET-1) is never this computer's address
    const e = await openEndpoint({ tcp: "192.0.2.1:21003" }, silentLogger).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/^--tcp 192\.0\.2\.1:21003: cannot listen: listen EADDRNOTAVAIL/);
  });

  it("listens on a free port with :0 and on an IPv4 address", async () => {
    const ep = await openEndpoint({ tcp: "127.0.0.1:0" }, silentLogger);
    try {
      expect(ep.where).toMatch(/^tcp: 127\.0\.0\.1:\d+$/);
    } finally {
      await ep.close();
    }
  });
});

describe("etc-sim --port", () => {
  it("refuses an empty path, naming --port (not a serial transport the user never asked for)", async () => {
    const e = await openEndpoint({ port: "" }, silentLogger).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe(
      '--port: expected the PATH of a serial port, e.g. /dev/ttyUSB0, got ""',
    );
  });
});

describe("etc-sim rsu --seed", () => {
  it("refuses a seed that is not an integer 0..4294967295, naming --seed (1.5 ran as 1, 4294967296 as 0)", async () => {
    for (const seed of ["1.5", "-1", "4294967296", ""]) {
      const r = await runCli("etc-sim", ["rsu", "--pty", "--seed", seed]);
      expect([r.code, r.stderr, r.stdout], seed).toEqual([
        1,
        `etc-sim: --seed: expected an integer 0..4294967295, got "${seed}"\n`,
        "",
      ]);
    }
  });
});

describe("etc-sim --log-level", () => {
  it.each([
    ["rsu", "--pty"],
    ["reader", "--pty"],
    ["replay", "capture.jsonl", "--pty"],
  ])("%s refuses a level pino does not have, naming --log-level and the levels it takes", async (...args) => {
    const r = await runCli("etc-sim", [...args, "--log-level", "loud"]);
    expect([r.code, r.stderr, r.stdout]).toEqual([
      1,
      'etc-sim: --log-level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"\n',
      "",
    ]);
  });
});

// second review: the reader kept both defects the rsu's fix closed: "" ran as seed 1, -1 as 4294967295,
// 4294967296 as 1 (0 and 1 too, the cards' xorshift32 cannot run from 0); an empty --port got the serial
// transport's error
describe("etc-sim reader --seed and --port", () => {
  it("refuses a seed that is not an integer 1..4294967295, naming --seed", async () => {
    for (const seed of ["", "-1", "4294967296", "1.5", "0"]) {
      const r = await runCli("etc-sim", [
        "reader",
        "--pty",
        "--no-stdin",
        "--exit-when-done",
        "--seed",
        seed,
      ]);
      expect([r.code, r.stderr, r.stdout], seed).toEqual([
        1,
        `etc-sim: --seed: expected an integer 1..4294967295, got "${seed}"\n`,
        "",
      ]);
    }
  });

  it("refuses an empty --port, naming it", async () => {
    const r = await runCli("etc-sim", ["reader", "--port", ""]);
    expect([r.code, r.stderr, r.stdout]).toEqual([
      1,
      'etc-sim: --port: expected the PATH of a serial port, e.g. /dev/ttyUSB0, got ""\n',
      "",
    ]);
  });
});

describe("etc-sim rsu --heartbeat-s", () => {
  it("legacy refuses 3 and 60: the reference's interval is more than 3 s and less than a minute", async () => {
    for (const s of ["3", "60", "2.5", "61"]) {
      const r = await runCli("etc-sim", ["rsu", "--pty", "--protocol", "legacy", "--heartbeat-s", s]);
      expect([r.code, r.stderr, r.stdout], s).toEqual([
        1,
        `etc-sim: --heartbeat-s: expected a number more than 3 and less than 60 (legacy: the reference's ">3 s and <1 min"), got "${s}"\n`,
        "",
      ]);
    }
  });

  it("national refuses a period outside 1..60 s", async () => {
    for (const s of ["0.5", "61"]) {
      const r = await runCli("etc-sim", ["rsu", "--pty", "--protocol", "national", "--heartbeat-s", s]);
      expect([r.code, r.stderr, r.stdout], s).toEqual([
        1,
        `etc-sim: --heartbeat-s: expected a number 1..60, got "${s}"\n`,
        "",
      ]);
    }
  });
});

describe("etc-sim rsu --heartbeat-code", () => {
  it("refuses a code other than 80 or 08, and any code with --protocol national, naming the flag", async () => {
    const r = await runCli("etc-sim", ["rsu", "--pty", "--protocol", "legacy", "--heartbeat-code", "81"]);
    expect([r.code, r.stderr, r.stdout]).toEqual([
      1,
      'etc-sim: --heartbeat-code: expected 80 or 08 (the heartbeat B2 ErrorCode, hex), got "81"\n',
      "",
    ]);
    const n = await runCli("etc-sim", ["rsu", "--pty", "--protocol", "national", "--heartbeat-code", "08"]);
    expect([n.code, n.stderr, n.stdout]).toEqual([
      1,
      'etc-sim: --heartbeat-code: legacy only (the national heartbeat is B1, which has no ErrorCode), got "08" with --protocol national\n',
      "",
    ]);
  });
});

describe("etc-sim rsu --time-scale", () => {
  it("refuses a scenario time it stretches beyond the longest timer, naming the field and --time-scale", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-sim-scale-"));
    try {
      const file = join(dir, "late.yaml");
      writeFileSync(file, "faults:\n  events:\n    - { kind: reboot, at: 3000000 }\n");
      const r = await runCli("etc-sim", ["rsu", "--pty", "--scenario", file, "--time-scale", "0.001"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `etc-sim: ${file}: faults.events[0].at: 3000000 ms at --time-scale 0.001 is 3000000000 ms of real time, beyond the longest timer (2147483647 ms, about 24.8 days): give a larger --time-scale or a shorter time\n`,
      );
      expect(r.stdout).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("etc-sim demo --stay --no-serve", () => {
  it("is refused as a usage error before the demo runs: staying keeps the page --no-serve turns off", async () => {
    const r = await runCli("etc-sim", ["demo", "--stay", "--no-serve"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "etc-sim: --stay keeps the lane and its maintenance page running after the scenario, and --no-serve turns the page off: give one of them\n",
    );
    expect(r.stdout).toBe("");
  });
});

/** A replay of `steps` (the RSU's writes) over an in-process pair, as `etc-sim replay` runs it: no limit on the first lane frame. */
function replayOf(steps: ReplayScript["steps"]): CaptureReplay {
  return new CaptureReplay({
    transport: createTransportPair().device,
    dialect: defaultDialect("legacy"),
    script: { port: "rsu", steps, trailing: [] },
  });
}

describe("etc-sim replay stopped while waiting", () => {
  it("a lane that never sent C0, with no first-frame limit: 'stopped while waiting', no 'undefined ms'", async () => {
    const replay = replayOf([
      {
        t: 10,
        bytes: Buffer.from([0xff]),
        after: [
          { type: "C0", t: 5 },
          { type: "C4", t: 8 },
        ],
        delayMs: 2,
      },
    ]);
    const messages: string[] = [];
    replay.events$.subscribe((e) => {
      if (e.type === "diverged") messages.push(e.message);
    });
    await replay.start();
    const run = replay.run();
    await replay.stop();
    const r = await run;
    expect(messages).toEqual(["stopped while waiting for the lane's C0 (the recorded lane did at 0.005 s)"]);
    expect(r).toMatchObject({ matched: 0, expected: 2 });
  });
});

describe("etc-sim replay stopped while it sleeps", () => {
  it("a stop during the pause before an RSU write ends run() (it waited for ever on the cleared timer)", async () => {
    // the RSU's first write at once, its second a minute later, no lane frame expected between
    const replay = replayOf([
      { t: 0, bytes: Buffer.from([0xff]), after: [], delayMs: 0 },
      { t: 60_000, bytes: Buffer.from([0xff]), after: [], delayMs: 60_000 },
    ]);
    await replay.start();
    // the first write's event comes just before run() starts its minute's sleep: stop once it sleeps
    replay.events$.subscribe((e) => {
      if (e.type === "sent" && e.step === 0) setImmediate(() => void replay.stop());
    });
    expect(await replay.run()).toMatchObject({ steps: 2, matched: 0, expected: 0 });
  });
});

describe("etc-sim with stdout closed early", () => {
  it("`etc-sim reader --pty | head -2` then SIGTERM: exits 0, no EPIPE", async () => {
    const child = spawn(process.execPath, [join(ROOT, "dist/sim/cli/etc-sim.js"), "reader", "--pty"], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.on("close", (code, signal) => resolve([code, signal])),
    );
    // `head -2`: the port line and "no script; ..." (printed once the signal handlers are in place), then
    // the reader of stdout goes away
    const rl = createInterface({ input: child.stdout });
    const lines: string[] = [];
    await new Promise<void>((resolve) => {
      rl.on("line", (l) => {
        lines.push(l);
        if (lines.length === 2) resolve();
      });
    });
    rl.close();
    child.stdout.destroy();
    await new Promise((resolve) => child.stdout.once("close", resolve));
    child.kill("SIGTERM"); // the shutdown writes "stopped: ..." into the closed pipe
    const [code, signal] = await exited;
    expect(lines).toEqual([
      expect.stringMatching(/^lane-port: \/dev\//),
      "no script; reading steps from stdin",
    ]);
    expect(stderr).not.toMatch(/EPIPE/);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});

// review (session 41): the pty or TCP listener was made before the files were opened, and nothing closed
// it when the ledger or frame log could not be opened: the error was printed and the process never exited
/** This process's descriptors open on `file`. */
function openOn(file: string): string[] {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false; // the descriptor readdir used, closed since
    }
  });
}

describe("etc-sim rsu with a --ledger or --frame-log that cannot be opened", () => {
  it.each([
    [["--pty", "--ledger", "/nonexistent/dir/l.jsonl"], "--ledger /nonexistent/dir/l.jsonl"],
    [["--tcp", "127.0.0.1:0", "--frame-log", "/nonexistent/f.jsonl"], "--frame-log /nonexistent/f.jsonl"],
    [["--pty", "--reader-pty", "--ledger", "/nonexistent/dir/l.jsonl"], "--ledger /nonexistent/dir/l.jsonl"],
  ])("%j: exits 1 naming the flag, nothing on stdout", async (args, named) => {
    const r = await runCli("etc-sim", ["rsu", ...args]);
    expect([r.code, r.stdout]).toEqual([1, ""]);
    expect(r.stderr).toBe(
      `etc-sim: ${named}: cannot open: ENOENT: no such file or directory, open '${named.split(" ")[1]}'\n`,
    );
  });

  // review (session 41): the failure paths after the files were opened left the card store's --ledger open
  it("a --reader-scenario refused after the files were opened: the --ledger and --frame-log are closed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-rsu-files-"));
    try {
      const ledger = join(dir, "ledger.jsonl");
      const frames = join(dir, "frames.jsonl");
      const scenario = join(dir, "reader.yaml");
      writeFileSync(
        scenario,
        "cards:\n  - { cardId: '43012200000000000001', province: 湖南, balance: -5 }\n",
      );
      const program = new Command().exitOverride();
      registerRsu(program);
      const args = ["--pty", "--reader-pty", "--ledger", ledger, "--frame-log", frames];
      await expect(
        program.parseAsync(["rsu", ...args, "--reader-scenario", scenario, "--log-level", "silent"], {
          from: "user",
        }),
      ).rejects.toThrow(`${scenario}: cards[0]: card spec: balance`);
      expect([existsSync(ledger), existsSync(frames)]).toEqual([true, true]); // they were opened
      expect(openOn(ledger)).toEqual([]);
      expect(openOn(frames)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a --port that cannot be opened (sim.start fails): the --ledger and --frame-log are closed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-rsu-files-"));
    try {
      const ledger = join(dir, "ledger.jsonl");
      const frames = join(dir, "frames.jsonl");
      const port = join(dir, "no-such-port");
      const program = new Command().exitOverride();
      registerRsu(program);
      const args = ["--port", port, "--ledger", ledger, "--frame-log", frames, "--log-level", "silent"];
      await expect(program.parseAsync(["rsu", ...args], { from: "user" })).rejects.toThrow(port);
      expect([existsSync(ledger), existsSync(frames)]).toEqual([true, true]); // they were opened
      expect(openOn(ledger)).toEqual([]);
      expect(openOn(frames)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("createRsuSimulator closes the frame log it opened when the ledger cannot be opened", () => {
    const dir = mkdtempSync(join(tmpdir(), "etc-rsu-files-"));
    try {
      const frames = join(dir, "frames.jsonl");
      const pair = createTransportPair();
      expect(() =>
        createRsuSimulator({
          transport: pair.device,
          protocol: "legacy",
          frameLog: frames,
          ledger: join(dir, "missing", "l.jsonl"),
        }),
      ).toThrow(/ENOENT/);
      expect(existsSync(frames)).toBe(true); // it was opened
      expect(openOn(frames)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
