/**
 * `etc-lane run --check --config FILE` performs every check `run` performs before it opens anything
 * (src/config/preflight.ts: the schema, then the station key, tariff, token files and the control socket's
 * path), names the field and what was expected, and writes nothing: no data directory, lock or database.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Command } from "commander";
import { afterAll, assert, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ROOT } from "../../sim/harness/procs.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerRun } from "../../src/cli/commands/run.js";
import { UsageError } from "../../src/cli/run-cli.js";
import { readLaneConfig } from "../../src/config/load.js";
import { laneConfigProblems } from "../../src/config/preflight.js";
import { DAMAGED_FILE, JOURNAL_FILE, SCHEMA_VERSION } from "../../src/journal/db.js";
import { Journal } from "../../src/journal/journal.js";
import { captureOutput } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

let dir: string;
const TARIFF = join(ROOT, "config/tariff.example.yaml");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-check-"));
  const token = (name: string, text: string, mode: number): void => {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), mode);
  };
  token("good.token", "s3cret-token-0123456789\n", 0o600);
  token("short.token", "abc\n", 0o600);
  token("open.token", "s3cret-token-0123456789\n", 0o644);
  token("latin1.token", "abcdefghijklmnop\u00e9\n", 0o600); // written as UTF-8, as an editor would
  writeFileSync(join(dir, "junk.pem"), "not a key\n");
  writeFileSync(
    join(dir, "bad-tariff.yaml"),
    'station: "4301-0102"\nversion: "t1"\netcDiscountPercent: five\nroutes: []\n',
  );
  // a fee merged in under %YAML 1.1 (session 34 review: 15.00 was charged as 15 fen)
  writeFileSync(
    join(dir, "merge-tariff.yaml"),
    '%YAML 1.1\n---\nstation: "4301-0102"\nversion: "t1"\nroutes:\n  - from: "4301-0101"\n    fees: { <<: { "1": 15.00 } }\n',
  );
  writeFileSync(join(dir, "a-file"), "x");
  // the simulator's test key under another name, without its comment lines: the key is what counts
  const pem = readFileSync(TEST_PUBLIC_KEY_PATH, "utf8");
  writeFileSync(join(dir, "station.pub.pem"), pem.slice(pem.indexOf("-----BEGIN")));
  // a key of our own: not the test key, allowed or not
  const own = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" });
  writeFileSync(join(dir, "own.pub.pem"), own);
  // the station's signing key where its public key belongs (Node derives the public key from it)
  const priv = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" });
  writeFileSync(join(dir, "station.key.pem"), priv);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Section = Record<string, unknown>;
interface Cfg {
  lane: Section;
  rsu: Section;
  station: Section;
  statusList: Section;
  service: Section;
  dataDir: string;
  tariff: string;
  log?: Section;
  reader?: Section;
  capture?: Section;
}

function config(over: (c: Cfg) => void = () => {}): Cfg {
  const c = {
    lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
    rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
    station: { url: "http://127.0.0.1:8640" },
    // the simulator's key, allowed as on a lane against the simulators (the refusal is tested below)
    statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true } as Section,
    dataDir: join(dir, "data-never-created"),
    tariff: TARIFF,
    service: { listen: "127.0.0.1:0" },
  };
  over(c);
  return c;
}

let n = 0;
function write(c: Cfg): string {
  const path = join(dir, `lane-${++n}.yaml`);
  writeFileSync(path, stringify(c));
  return path;
}

/**
 * `etc-lane run --check --config FILE` through the command's own action, in this process; with `--init`
 * (the lane's first start) unless a journal is in dataDir already, as run would be given it.
 */
async function check(
  c: Cfg,
  init = !existsSync(join(c.dataDir, JOURNAL_FILE)),
): Promise<{ ok: true; out: string; err: string } | { ok: false; err: string }> {
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  const io = captureOutput();
  try {
    await program.parseAsync([
      "node",
      "etc-lane",
      "run",
      "--check",
      ...(init ? ["--init"] : []),
      "--config",
      write(c),
    ]);
    return { ok: true, out: io.out, err: io.err };
  } catch (e) {
    return { ok: false, err: (e as Error).message };
  } finally {
    io.restore();
  }
}

describe("etc-lane run --check", () => {
  it("passes a good config and writes nothing (no data directory)", async () => {
    const r = await check(config());
    expect(r).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, exit\)\n$/),
      err: "",
    });
    expect(existsSync(join(dir, "data-never-created"))).toBe(false);
  });

  const bad: [string, (c: Cfg) => void, RegExp][] = [
    [
      "rsu.port tcp:// without a port",
      (c) => {
        c.rsu.port = "tcp://10.0.0.5";
      },
      /rsu\.port: expected tcp:\/\/host:port .*got "tcp:\/\/10\.0\.0\.5"/,
    ],
    [
      "rsu.port tcp:// without a host, port out of range",
      (c) => {
        c.rsu.port = "tcp://:99999";
      },
      /rsu\.port: expected tcp:\/\/host:port with a host name or IPv4 address and a port in 1\.\.65535/,
    ],
    [
      "rsu.port tcp:// port out of range",
      (c) => {
        c.rsu.port = "tcp://10.0.0.5:99999";
      },
      /rsu\.port: expected tcp:\/\/host:port with a host name or IPv4 address and a port in 1\.\.65535/,
    ],
    [
      "rsu.port with another scheme",
      (c) => {
        c.rsu.port = "udp://10.0.0.5:21003";
      },
      /rsu\.port: expected a serial device path or tcp:\/\/host:port/,
    ],
    [
      "rsu.port a relative device path",
      (c) => {
        c.rsu.port = "ttyUSB0";
      },
      /rsu\.port: expected an absolute device path, e\.g\. \/dev\/ttyUSB0 .*got "ttyUSB0"/,
    ],
    [
      // review: taken before; legacy C2 has StopType 1 and 2 only
      "rsu.alreadyTradedStopType 3 with protocol legacy",
      (c) => {
        c.rsu.alreadyTradedStopType = 3;
      },
      /\n {2}rsu\.alreadyTradedStopType: expected 1 with protocol legacy \(legacy C2 has StopType 1 and 2 only; 3 is the national lane dialect's\), got 3/,
    ],
    [
      "reader.port a relative device path",
      (c) => {
        c.reader = { port: "ttyUSB1" };
      },
      /reader\.port: expected an absolute device path, .*got "ttyUSB1"/,
    ],
    [
      // review: tcp: was let through for reader.port as for rsu.port; the booth then opened it as a serial
      // path relative to the working directory and retried for ever
      "reader.port tcp:host:port (the reader is serial only)",
      (c) => {
        c.reader = { port: "tcp:10.0.0.5:4001" };
      },
      /\n {2}reader\.port: expected a serial device path \(the booth reader is on a serial port, no network\), got "tcp:10\.0\.0\.5:4001"/,
    ],
    [
      "station.url ftp://",
      (c) => {
        c.station.url = "ftp://127.0.0.1:8640";
      },
      /station\.url: expected an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "statusList.publicKey missing",
      (c) => {
        c.statusList.publicKey = join(dir, "nope.pem");
      },
      /statusList\.publicKey: cannot read .*nope\.pem/,
    ],
    [
      "statusList.publicKey not a PEM key",
      (c) => {
        c.statusList.publicKey = join(dir, "junk.pem");
      },
      /statusList\.publicKey: expected the station's Ed25519 public key in PEM/,
    ],
    [
      "statusList.publicKey a private key (the station's signing key)",
      (c) => {
        c.statusList = { publicKey: join(dir, "station.key.pem") };
      },
      /statusList\.publicKey: expected the station's Ed25519 public key, but \S+\/station\.key\.pem holds a private key \(the station's signing key must not be on the lane/,
    ],
    [
      "statusList.publicKey the simulator's test private key, even with allowTestKey",
      (c) => {
        c.statusList = { publicKey: join(ROOT, "config/keys/station-test.key.pem"), allowTestKey: true };
      },
      /statusList\.publicKey: expected the station's Ed25519 public key, but \S+station-test\.key\.pem holds a private key/,
    ],
    [
      "statusList.publicKey the simulator's test key without statusList.allowTestKey",
      (c) => {
        c.statusList = { publicKey: TEST_PUBLIC_KEY_PATH };
      },
      /statusList\.publicKey: expected the station's public key, but .*station-test\.pub\.pem is the simulator's TEST key .*private key is public .* set statusList\.allowTestKey: true only on a simulator or demo lane/,
    ],
    [
      "statusList.publicKey a copy of the test key under another name (allowTestKey: false)",
      (c) => {
        c.statusList = { publicKey: join(dir, "station.pub.pem"), allowTestKey: false };
      },
      /statusList\.publicKey: expected the station's public key, but .*\/station\.pub\.pem is the simulator's TEST key/,
    ],
    [
      "tariff missing",
      (c) => {
        c.tariff = join(dir, "nope.yaml");
      },
      /tariff: .*nope\.yaml: cannot read the tariff/,
    ],
    [
      "tariff invalid",
      (c) => {
        c.tariff = join(dir, "bad-tariff.yaml");
      },
      /tariff: .*bad-tariff\.yaml: invalid configuration\n {4}etcDiscountPercent: expected/,
    ],
    [
      "a tariff with a merge key (<<)",
      (c) => {
        c.tariff = join(dir, "merge-tariff.yaml");
      },
      /tariff: .*merge-tariff\.yaml: invalid configuration\n {4}routes\.0\.fees\.<<: merge keys \(<<\) are not taken in a tariff/,
    ],
    [
      "a tariff of another exit station",
      (c) => {
        c.lane.station = "0105";
      },
      /tariff: .*tariff\.example\.yaml: station: this tariff is for exit station 4301-0102, but the lane is 4301-0105 \(lane\.network, lane\.station\)/,
    ],
    [
      "station.tokenFile missing",
      (c) => {
        c.station.tokenFile = join(dir, "nope.token");
      },
      /station\.tokenFile: cannot read .*nope\.token/,
    ],
    [
      "station.tokenFile too short",
      (c) => {
        c.station.tokenFile = join(dir, "short.token");
      },
      /station\.tokenFile: .*short\.token must hold one token of at least 16 characters/,
    ],
    [
      "service.tokenFile readable by others",
      (c) => {
        c.service = { listen: "0.0.0.0:0", tokenFile: join(dir, "open.token") };
      },
      /service\.tokenFile: .*open\.token can be read by other users \(mode 644\); chmod 600 it/,
    ],
    [
      // curl and Prometheus would send it as UTF-8 bytes, which the service reads as Latin-1: never a match
      "service.tokenFile holding a Latin-1 letter",
      (c) => {
        c.service = { listen: "0.0.0.0:0", tokenFile: join(dir, "latin1.token") };
      },
      /service\.tokenFile: .*latin1\.token holds a character that is not visible ASCII \(U\+00E9 at character 17\); expected a token of visible ASCII characters \(U\+0021\.\.U\+007E\)/,
    ],
    [
      "log.file a directory",
      (c) => {
        c.log = { file: dir };
      },
      /log\.file: expected a file to append the log to, but .* is a directory/,
    ],
    [
      "log.file under a file",
      (c) => {
        c.log = { file: join(dir, "a-file", "logs", "lane.log") };
      },
      /log\.file: expected a directory path to the log file, but .*a-file \(on the way to .*lane\.log\) is a file/,
    ],
    [
      "dataDir too long for the control socket",
      (c) => {
        c.dataDir = join(dir, "x".repeat(120));
      },
      /dataDir: expected a path short enough for its control socket: .* more than 107/,
    ],
    [
      // /proc/self takes no new file, for root too (a non-root user meets EACCES in any directory of root's)
      "dataDir that cannot be created",
      (c) => {
        c.dataDir = "/proc/self/etc-lane-data";
      },
      /dataDir: cannot create \/proc\/self\/etc-lane-data: \/proc\/self is not writable/,
    ],
    [
      "dataDir a symbolic link to nothing",
      (c) => {
        const link = join(dir, "dangling-data");
        if (!existsSync(link)) symlinkSync(join(dir, "no-such-dir"), link);
        c.dataDir = link;
      },
      /dataDir: expected a directory, but .*dangling-data is a symbolic link to a path that does not exist/,
    ],
    [
      "dataDir not writable",
      (c) => {
        c.dataDir = "/proc/self";
      },
      /dataDir: expected a directory this user can write in, but \/proc\/self is not writable/,
    ],
    [
      "dataDir is a file",
      (c) => {
        c.dataDir = join(dir, "a-file", "data");
      },
      /dataDir: expected a directory path, but .*a-file .* is a file/,
    ],
  ];
  for (const [name, change, expected] of bad) {
    it(`refuses ${name}, naming the field`, async () => {
      const r = await check(config(change));
      expect(r).toEqual({ ok: false, err: expect.stringMatching(expected) });
    });
  }

  // review: a capture.dir that was a file passed with a note on the room "in" it, and the capture then
  // wrote nothing
  it("refuses an enabled capture.dir that is a file or under one, naming it, with no room note", async () => {
    for (const [capDir, expected] of [
      [join(dir, "a-file"), /\n {2}capture\.dir: expected a directory, but \S+a-file is a file/],
      [
        join(dir, "a-file", "capture"),
        /\n {2}capture\.dir: expected a directory path, but \S+a-file \(on the way to \S+a-file\/capture\) is a file/,
      ],
      [
        "/proc/self/etc-lane-capture",
        /\n {2}capture\.dir: cannot create \/proc\/self\/etc-lane-capture: \/proc\/self is not writable/,
      ],
    ] as const) {
      const r = await check(
        config((c) => {
          c.capture = { enabled: true, dir: capDir };
        }),
      );
      expect(r, capDir).toEqual({ ok: false, err: expect.stringMatching(expected) });
      expect(r.err, capDir).not.toMatch(/capture: the capture may use/);
    }
  });

  it("passes a capture.dir that does not exist yet, with its room note, and creates nothing; a disabled one is not looked at", async () => {
    const capDir = join(dir, "capture-never-created", "wire");
    const on = await check(
      config((c) => {
        c.capture = { enabled: true, dir: capDir };
      }),
    );
    expect(on).toMatchObject({
      ok: true,
      err: expect.stringMatching(
        /note: capture: the capture may use up to 128 MiB in \S+capture-never-created\/wire/,
      ),
    });
    expect(existsSync(join(dir, "capture-never-created"))).toBe(false);
    const off = await check(
      config((c) => {
        c.capture = { enabled: false, dir: join(dir, "a-file") };
      }),
    );
    expect(off).toMatchObject({ ok: true, err: "" });
  });

  it("reports every problem at once", async () => {
    const r = await check(
      config((c) => {
        c.statusList.publicKey = join(dir, "nope.pem");
        c.tariff = join(dir, "nope.yaml");
        c.station.tokenFile = join(dir, "short.token");
      }),
    );
    assert(!r.ok, "check passed a config with three problems");
    expect(r.err).toMatch(/^\S+: invalid configuration\n/);
    expect(r.err.split("\n").filter((l) => /^ {2}\S/.test(l))).toHaveLength(3);
  });

  it("passes a station key of its own, with or without allowTestKey", async () => {
    for (const allowTestKey of [undefined, false, true]) {
      const r = await check(
        config((c) => {
          c.statusList = {
            publicKey: join(dir, "own.pub.pem"),
            ...(allowTestKey === undefined ? {} : { allowTestKey }),
          };
        }),
      );
      expect(r.ok, String(allowTestKey)).toBe(true);
    }
  });

  it("passes a log.file that does not exist yet, and creates nothing for it", async () => {
    const r = await check(
      config((c) => {
        c.log = { file: join(dir, "logs-never-created", "lane.log") };
      }),
    );
    expect(r.ok).toBe(true);
    expect(existsSync(join(dir, "logs-never-created"))).toBe(false);
  });

  it("reads the key of an entry lane but not its tariff (run does not load it), and says the tariff is ignored", async () => {
    const r = await check(
      config((c) => {
        c.lane.role = "entry";
        c.tariff = join(dir, "nope.yaml");
      }),
    );
    expect(r).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, entry\)\n$/),
      err: expect.stringMatching(
        /^\S+: note: tariff: ignored: an entry lane charges nothing and does not read it \(.*nope\.yaml\); leave it out\n$/,
      ),
    });
  });

  // second review: the key the earlier example set was refused, and a lane made from it would not start
  it("passes rsu.dialect.heartbeatCode (the earlier example's 0x80) with a note that the lane ignores it", async () => {
    const r = await check(
      config((c) => {
        c.rsu.dialect = { stationLength: 40, heartbeatCode: 0x80 };
      }),
    );
    expect(r).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, exit\)\n$/),
      err: `${join(dir, `lane-${n}.yaml`)}: note: rsu.dialect.heartbeatCode: a simulator option (the heartbeat B2 ErrorCode the simulated RSU sends); the lane ignores it: remove it\n`,
    });
  });

  // second review of the card time base (9750a552): a national lane upgraded with no word read entries its
  // not-yet-upgraded neighbours wrote 8 h early (README.md "Upgrading")
  it("passes a national lane that leaves rsu.dialect.cardTimeBase unset, with a note; set either way, none", async () => {
    const r = await check(
      config((c) => {
        c.rsu = { port: "/dev/ttyUSB0", protocol: "national" };
      }),
    );
    expect(r).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, exit\)\n$/),
      err: expect.stringMatching(
        /^\S+: note: rsu\.dialect\.cardTimeBase: not set: this version reads and writes the card's 0019 entry\/exit time as local-as-utc .*set cardTimeBase: utc until they all are.*\n$/,
      ),
    });
    for (const cardTimeBase of ["local-as-utc", "utc"]) {
      const set = await check(
        config((c) => {
          c.rsu = { port: "/dev/ttyUSB0", protocol: "national", dialect: { cardTimeBase } };
        }),
      );
      expect(set, cardTimeBase).toEqual({ ok: true, out: expect.stringMatching(/: OK /), err: "" });
    }
    // a legacy lane's 0019 time base did not change (local-as-utc before and now): no note
    expect(await check(config())).toMatchObject({ ok: true, err: "" });
  });

  // review: the 0019 time was in the lane's effective timeBase before 32972df6, configurable for both
  // protocols; the note fired by protocol alone
  it("notes cardTimeBase unset by the lane's effective timeBase: a legacy lane with utc, yes; a national one with local-as-utc, no", async () => {
    const legacyUtc = await check(
      config((c) => {
        c.rsu = { port: "/dev/ttyUSB0", protocol: "legacy", dialect: { timeBase: "utc" } };
      }),
    );
    expect(legacyUtc).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, exit\)\n$/),
      err: expect.stringMatching(
        /^\S+: note: rsu\.dialect\.cardTimeBase: not set: .*earlier versions used this lane's timeBase \(utc\), .*set cardTimeBase: utc until they all are.*\n$/,
      ),
    });
    const nationalLocal = await check(
      config((c) => {
        c.rsu = { port: "/dev/ttyUSB0", protocol: "national", dialect: { timeBase: "local-as-utc" } };
      }),
    );
    expect(nationalLocal).toEqual({ ok: true, out: expect.stringMatching(/: OK /), err: "" });
  });

  it("passes an entry lane without a tariff, without a note", async () => {
    const r = await check(
      config((c) => {
        c.lane.role = "entry";
        delete (c as Partial<Cfg>).tariff;
      }),
    );
    expect(r).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, entry\)\n$/),
      err: "",
    });
  });

  // review: a fee charged as 0 fen passed --check with no word
  it("refuses a tariff that charges 0 fen, naming the fee; with allowZeroFee: true, passes with a note naming it", async () => {
    const tariff = (name: string, lines: string[]): string => {
      const path = join(dir, name);
      writeFileSync(
        path,
        [
          'station: "4301-0102"',
          'version: "free-1"',
          ...lines,
          'routes: [{ from: "4301-0101", fees: { "1": 1500, "2": 0 } }]',
          "",
        ].join("\n"),
      );
      return path;
    };
    const refused = await check(
      config((c) => {
        c.tariff = tariff("zero-fee.yaml", []);
      }),
    );
    expect(refused).toEqual({
      ok: false,
      err: expect.stringMatching(
        /\n {2}tariff: .*zero-fee\.yaml: invalid configuration\n {4}routes\.0\.fees\.2: a fee of 0 fen: that vehicle would pass free; .*allowZeroFee: true/,
      ),
    });
    const file = tariff("holiday.yaml", ["allowZeroFee: true"]);
    expect(
      await check(
        config((c) => {
          c.tariff = file;
        }),
      ),
    ).toEqual({
      ok: true,
      out: expect.stringMatching(/: OK \(lane 4301-0102-03, exit\)\n$/),
      err: `${join(dir, `lane-${n}.yaml`)}: note: tariff: allowZeroFee: true in ${file}: free passage (charged 0 fen) for 4301-0101 class 2 (a fee of 0 fen)\n`,
    });
  });

  describe("rsu.port and reader.port", () => {
    it("refuses one device named through a link (/dev/serial/by-id/...), naming both fields", async () => {
      const link = join(dir, "usb-FTDI_FT232R-if00-port0");
      if (!existsSync(link)) symlinkSync("/dev/null", link); // stands for ../../ttyUSB0
      const r = await check(
        config((c) => {
          c.rsu.port = "/dev/null";
          c.reader = { port: link };
        }),
      );
      assert(!r.ok, "check passed one device for the RSU and the reader");
      expect(r.err).toMatch(
        /\n {2}reader\.port: expected another device than rsu\.port \(\/dev\/null\): \S+usb-FTDI_FT232R-if00-port0 is \/dev\/null too/,
      );
    });

    // review: a directory (a by-id path with the name left off) or a regular file passed, and run retried
    // the open for ever
    it("refuses an existing path that is no character device, naming the field and what it is", async () => {
      const r = await check(
        config((c) => {
          c.rsu.port = dir;
          c.reader = { port: join(dir, "a-file") };
        }),
      );
      assert(!r.ok, "check passed a directory and a regular file as serial ports");
      expect(r.err).toMatch(
        /\n {2}rsu\.port: expected a serial device \(a character device such as \/dev\/ttyUSB0\), but \S+ is a directory\n/,
      );
      expect(r.err).toMatch(
        /\n {2}reader\.port: expected a serial device \(a character device such as \/dev\/ttyUSB0\), but \S+a-file is a regular file/,
      );
    });

    it("passes a link to a character device (a pty's, a by-id link) and a dangling link (waited for)", async () => {
      const pty = join(dir, "pty-link");
      if (!existsSync(pty)) symlinkSync("/dev/zero", pty); // stands for a link to /dev/pts/N
      const unplugged = join(dir, "usb-unplugged-if00-port0");
      if (!existsSync(unplugged)) symlinkSync(join(dir, "no-such-ttyUSB9"), unplugged);
      const r = await check(
        config((c) => {
          c.rsu.port = pty;
          c.reader = { port: unplugged };
        }),
      );
      expect(r).toMatchObject({ ok: true });
    });

    it("passes two devices, and a port that does not exist yet (the lane waits for it)", async () => {
      for (const reader of ["/dev/zero", join(dir, "no-such-tty")]) {
        const r = await check(
          config((c) => {
            c.rsu.port = "/dev/null";
            c.reader = { port: reader };
          }),
        );
        expect(r.ok, reader).toBe(true);
      }
    });
  });

  describe("a journal already in dataDir", () => {
    const withDataDir = (d: string): Cfg =>
      config((c) => {
        c.dataDir = d;
      });

    /** A data directory holding a stopped lane's journal (lane `lane` of station 4301-0102). */
    async function dataDirOf(lane: number): Promise<string> {
      const d = mkdtempSync(join(dir, "data-"));
      const j = Journal.open({
        dataDir: d,
        laneIdentity: { network: "4301", station: "0102", lane },
        utcOffsetMinutes: 480,
        integrityCheck: false,
        checkpointIntervalMs: 0,
      });
      j.commit(sampleRecord(1));
      await j.close();
      return d;
    }

    it("passes the lane's own journal, and leaves the data directory as it was", async () => {
      const d = await dataDirOf(3);
      const before = readdirSync(d).sort();
      const r = await check(withDataDir(d));
      expect(r.ok).toBe(true);
      expect(readdirSync(d).sort()).toEqual(before);
    });

    it("refuses another lane's journal (a copied config), naming dataDir and lane.*, and writes nothing", async () => {
      const d = await dataDirOf(4);
      const before = readdirSync(d).sort();
      const r = await check(withDataDir(d));
      assert(!r.ok, "check passed lane 3's config on lane 4's data directory");
      expect(r.err).toMatch(
        /\n {2}dataDir: \S+ holds another lane's journal: its journal belongs to lane 4301-0102-04, but the config names lane 4301-0102-03 \(lane\.network "4301", lane\.station "0102", lane\.lane 3\); the lane refuses it/,
      );
      expect(readdirSync(d).sort()).toEqual(before);
    });

    it("refuses a journal found damaged (its note), naming dataDir and the note", async () => {
      const d = await dataDirOf(3);
      writeFileSync(
        join(d, DAMAGED_FILE),
        `${JSON.stringify({ at: "2026-12-01T10:00:00.000Z", op: "retention", sqliteCode: "SQLITE_CORRUPT", message: "x" })}\n`,
      );
      const r = await check(withDataDir(d));
      assert(!r.ok, "check passed a damaged journal");
      expect(r.err).toMatch(
        /\n {2}dataDir: the journal in \S+ was found damaged at 2026-12-01T10:00:00\.000Z \(retention: SQLITE_CORRUPT\): the lane does not use it\. Repair or replace it, then delete \S+journal\.db\.damaged/,
      );
    });

    it("refuses a journal newer than this software, naming dataDir", async () => {
      const d = await dataDirOf(3);
      const raw = new Database(join(d, JOURNAL_FILE));
      raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      const r = await check(withDataDir(d));
      assert(!r.ok, "check passed a newer journal");
      expect(r.err).toMatch(
        new RegExp(
          `\\n {2}dataDir: the journal in \\S+ has schema version ${SCHEMA_VERSION + 1}, newer than this software's \\(${SCHEMA_VERSION}\\)`,
        ),
      );
    });

    it("without --init: refuses a missing or empty dataDir (a data disk not mounted), naming dataDir; --init where a journal is: refused too", async () => {
      const missing = await check(withDataDir(join(dir, "not-mounted", "lane3")), false);
      assert(!missing.ok, "check passed a missing dataDir without --init");
      expect(missing.err).toMatch(
        /\n {2}dataDir: no data directory \S+not-mounted\/lane3: .*a lane's first start takes --init .*is its data disk mounted\? \[E412_DATA_DIR_MISSING\]/,
      );
      const empty = await check(withDataDir(mkdtempSync(join(dir, "data-"))), false);
      assert(!empty.ok, "check passed an empty dataDir without --init");
      expect(empty.err).toMatch(
        /\n {2}dataDir: no journal in dataDir \S+ \(journal\.db\): no lane has run there; a lane's first start takes --init .*\[E412_DATA_DIR_MISSING\]/,
      );
      const d = await dataDirOf(3);
      const init = await check(withDataDir(d), true);
      assert(!init.ok, "check passed --init on a data directory a lane has run in");
      expect(init.err).toMatch(
        /\n {2}dataDir: --init, but a lane has run in dataDir \S+ \(its journal\.db\)/,
      );
      expect(existsSync(join(dir, "not-mounted"))).toBe(false);
    });

    it("refuses a data directory of another user than the one who runs it (E413), naming dataDir", async () => {
      const d = await dataDirOf(3);
      const c = readLaneConfig(write(withDataDir(d))).config;
      const euid = statSync(d).uid + 4242;
      expect(laneConfigProblems(c, { start: { init: false, euid } })).toEqual([
        {
          path: "dataDir",
          message: expect.stringMatching(/^the data directory \S+ belongs to .*\[E413_DATA_DIR_OWNER\]$/),
        },
      ]);
      expect(laneConfigProblems(c, { start: { init: false } })).toEqual([]);
    });

    it("refuses a journal.db that is not a database, naming dataDir", async () => {
      const d = mkdtempSync(join(dir, "data-"));
      writeFileSync(join(d, JOURNAL_FILE), "not a database, just text long enough to be a header ".repeat(4));
      const r = await check(withDataDir(d));
      assert(!r.ok, "check passed a file that is not a journal");
      expect(r.err).toMatch(/\n {2}dataDir: cannot read the journal in \S+ \(file is not a database\)/);
    });
  });

  it("the built CLI exits non-zero with the field on stderr, and 0 for a good config", () => {
    const cli = join(ROOT, "dist/src/cli/etc-lane.js");
    const badPath = write(
      config((c) => {
        c.station.tokenFile = join(dir, "nope.token");
      }),
    );
    const bad = spawnSync(process.execPath, [cli, "run", "--check", "--init", "--config", badPath], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/station\.tokenFile: cannot read .* \[E401_CONFIG_INVALID\]\n$/);
    const good = spawnSync(process.execPath, [cli, "run", "--check", "--init", "--config", write(config())], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
    expect(existsSync(join(dir, "data-never-created"))).toBe(false);
  });
});

// session 39 second review: `run --config ""` (an unset shell variable) said "cannot read the config file
// (ENOENT ..., open '')", where the commands that locate the lane say a usage error naming the option
describe("etc-lane run --config with an empty value", () => {
  it.each([[[]], [["--check"]]])("run %o --config '': a usage error naming --config", async (extra) => {
    const program = new Command("etc-lane").exitOverride();
    registerRun(program);
    const e = await program.parseAsync(["node", "etc-lane", "run", ...extra, "--config", ""]).then(
      () => new Error("run did not throw"),
      (err: unknown) => err as Error,
    );
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toBe("--config is empty: give the lane's config file (an unset shell variable?)");
  });
});
