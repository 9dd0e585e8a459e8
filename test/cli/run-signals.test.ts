/**
 * `etc-lane run` takes SIGINT/SIGTERM from before the lane opens (src/cli/commands/run.ts,
 * src/cli/stop-signals.ts): a stop before the open keeps the lane from opening, one while it opens closes it
 * as soon as it is open, a stop that comes while the status service starts (before the controller) keeps
 * the controller from starting, one while the controller starts closes both in order once that is done
 * (or failed); neither leaves the process to Node's default action;
 * the lane controller stops (no new vehicles, drain) beside the service's close, the lane closes after both.
 * The lane, its service and the process tuning are stubs; the signals are emitted on this process (no
 * listener of vitest's own takes them).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Subject } from "rxjs";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { ROOT } from "../../sim/harness/procs.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerRun } from "../../src/cli/commands/run.js";

const h = vi.hoisted(() => ({
  steps: [] as string[],
  /** SIGTERM listeners when the lane started trading */
  listenersAtStart: -1,
  /** SIGTERM listeners when run asked for the status service */
  listenersAtServe: -1,
  start: async (): Promise<void> => {},
  /** the lane controller's graceful stop (no new vehicles, drain, antenna off) */
  stop: async (): Promise<void> => {},
  serve: async (): Promise<unknown> => undefined,
  /** SIGTERM listeners when run asked to open the lane (-1: it never did) */
  listenersAtOpen: -1,
  /** the process tuning, before the lane opens */
  tune: async (): Promise<void> => {},
  /** the lane's open (journal, status list, trail, lane.start) */
  open: async (): Promise<void> => {},
}));

vi.mock("../../src/lane/process-tuning.js", () => ({
  tuneLaneProcess: async () => {
    await h.tune();
    return {};
  },
}));
vi.mock("../../src/lane/runtime.js", () => ({
  openLane: async () => {
    h.listenersAtOpen = process.listenerCount("SIGTERM");
    await h.open();
    return openedLane();
  },
}));

function openedLane() {
  return {
    controller: {
      status$: new Subject(),
      start: async () => {
        h.steps.push("lane.start");
        h.listenersAtStart = process.listenerCount("SIGTERM");
        await h.start();
      },
      stop: async () => {
        h.steps.push("controller.stop");
        await h.stop();
      },
    },
    tariff: null,
    tariffNotes: [],
    close: async () => {
      h.steps.push("lane.close");
    },
  };
}
vi.mock("../../src/service/serve-lane.js", () => ({ serveLane: () => h.serve() }));

let dir: string;
let config: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-signals-"));
  config = join(dir, "lane.yaml");
  writeFileSync(
    config,
    stringify({
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "/dev/ttyUSB9", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      log: { file: join(dir, "lane.log") },
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  h.steps = [];
  h.listenersAtStart = -1;
  h.listenersAtServe = -1;
  h.start = async () => {};
  h.stop = async () => {};
  h.listenersAtOpen = -1;
  h.tune = async () => {};
  h.open = async () => {};
});
afterEach(() => {
  // nothing of run's is left on the process
  expect(["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s))).toEqual([0, 0, 0]);
});

function run(): Promise<unknown> {
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  return program.parseAsync(["node", "etc-lane", "run", "--init", "--config", config]);
}

/**
 * A status service whose start the test ends (`up` or `fail`), with `started` once run asked for it; its
 * close is `close` (set before `up` to hold it).
 */
function pendingService(): {
  started: Promise<void>;
  up: () => void;
  fail: (e: Error) => void;
  close: () => Promise<void>;
} {
  let started!: () => void;
  const s = {
    started: new Promise<void>((r) => {
      started = r;
    }),
    up: () => {},
    fail: (_e: Error) => {},
    close: async () => {},
  };
  h.serve = () =>
    new Promise((resolve, reject) => {
      h.steps.push("service.start");
      h.listenersAtServe = process.listenerCount("SIGTERM");
      s.up = () =>
        resolve({
          service: { listening: true, url: "http://127.0.0.1:9641/" },
          close: async () => {
            h.steps.push("service.close");
            await s.close();
          },
        });
      s.fail = reject;
      started();
    });
  return s;
}

// review: the handlers were installed only after the status service was up, the lane trading before that;
// since the service starts before the controller, a stop in that time keeps the controller from starting
it("a SIGTERM while the status service starts: the controller never starts; the service, then the lane, closed", async () => {
  const service = pendingService();
  const done = run();
  await service.started;
  expect(h.listenersAtServe).toBe(1);
  process.emit("SIGTERM", "SIGTERM");
  h.steps.push("SIGTERM");
  service.up();
  await done;
  expect(h.steps).toEqual(["service.start", "SIGTERM", "service.close", "controller.stop", "lane.close"]);
});

// second review: the lane traded on while the service waited for operator actions, and closed only after
it("a SIGTERM: the lane controller stops at once, beside the service's wait; the lane closes after both", async () => {
  const service = pendingService();
  let serviceClosed!: () => void;
  const serviceWait = new Promise<void>((r) => {
    serviceClosed = r;
  });
  let stopAsked!: () => void;
  const stopCalled = new Promise<void>((r) => {
    stopAsked = r;
  });
  let stopped!: () => void;
  h.stop = () => {
    stopAsked();
    return new Promise<void>((r) => {
      stopped = r;
    });
  };
  let laneStarted!: () => void;
  const started = new Promise<void>((r) => {
    laneStarted = r;
  });
  h.start = async () => laneStarted();
  const done = run();
  await service.started;
  service.close = async () => {
    await serviceWait;
    h.steps.push("service closed");
  };
  service.up();
  await started;
  expect(h.listenersAtStart).toBe(1);
  process.emit("SIGTERM", "SIGTERM");
  // the service still waits (an import, a retention run) while the lane stops trading
  await stopCalled;
  expect(h.steps).toEqual(["service.start", "lane.start", "service.close", "controller.stop"]);
  serviceClosed();
  stopped();
  await done;
  expect(h.steps).toEqual([
    "service.start",
    "lane.start",
    "service.close",
    "controller.stop",
    "service closed",
    "lane.close",
  ]);
});

it("a SIGINT while the status service starts and it fails: the lane closed, run fails with the service's error", async () => {
  const service = pendingService();
  const done = run();
  await service.started;
  process.emit("SIGINT", "SIGINT");
  service.fail(new Error("listen EADDRINUSE"));
  await expect(done).rejects.toThrow("listen EADDRINUSE");
  expect(h.steps).toEqual(["service.start", "lane.close"]);
});

it("a SIGTERM while the controller starts: the service and the lane closed once it is started", async () => {
  const service = pendingService();
  h.start = async () => {
    process.emit("SIGTERM", "SIGTERM");
    h.steps.push("SIGTERM");
  };
  const done = run();
  await service.started;
  service.up();
  await done;
  expect(h.steps).toEqual([
    "service.start",
    "lane.start",
    "SIGTERM",
    "service.close",
    "controller.stop",
    "lane.close",
  ]);
});

// review: a service close that failed after a failed start skipped the lane's close and hid the start's error
it("a controller start that fails, then a service close that fails: the lane still closed, the start's error", async () => {
  const service = pendingService();
  h.start = async () => {
    throw new Error("RSU port busy");
  };
  service.close = async () => {
    throw new Error("socket close failed");
  };
  const done = run();
  await service.started;
  service.up();
  await expect(done).rejects.toThrow("RSU port busy");
  expect(h.steps).toEqual(["service.start", "lane.start", "service.close", "lane.close"]);
});

/** A lane open that stays pending until the test ends it (`opened`), with `opening` once run asked for it. */
function pendingOpen(): { opening: Promise<void>; opened: () => void } {
  let opening!: () => void;
  const o = {
    opening: new Promise<void>((r) => {
      opening = r;
    }),
    opened: () => {},
  };
  h.open = () =>
    new Promise<void>((resolve) => {
      o.opened = resolve;
      opening();
    });
  return o;
}

// session 43 review: the signals were taken only once the lane was open; a `systemctl stop` (or a Ctrl-C of
// the foreground --init start) while it opened ended the process at once (exit 143), with no lane.stop in
// the trail and the data directory's holder file left behind
it("a SIGTERM while the lane opens: the lane closed as soon as it is open; no service, no controller start", async () => {
  const open = pendingOpen();
  const done = run();
  await open.opening;
  expect(h.listenersAtOpen).toBe(1);
  process.emit("SIGTERM", "SIGTERM");
  h.steps.push("SIGTERM");
  open.opened();
  await done;
  expect(h.steps).toEqual(["SIGTERM", "lane.close"]);
});

it("a SIGINT before the lane opens (the process tuning): the lane is never opened", async () => {
  h.tune = async () => {
    process.emit("SIGINT", "SIGINT");
  };
  await run();
  expect(h.listenersAtOpen).toBe(-1);
  expect(h.steps).toEqual([]);
});
