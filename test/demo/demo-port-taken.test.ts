/**
 * The demo (sim/demo/demo.ts) whose configured `service.listen` port is taken serves its page on a free
 * port, and that service counts the alarms of the lane's start (here "no status list loaded": the demo's
 * data directory is new, its list applied after the start) as the lane's own service does
 * (docs/maintenance.md etc_lane_alarms_total). Before, the demo first started a service on the taken port:
 * its feed took the start's alarms (src/audit/trail.ts onAlarmEntry hands them to the first listener) and
 * was stopped when HTTP could not listen, and the service on the free port had none of them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runDemo } from "../../sim/demo/demo.js";
import { parsePrometheusText } from "../service/prom-parse.js";
import { writeDemoFiles } from "./demo-files.js";

let dir: string;
let taken: Server;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-port-"));
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
});
afterEach(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

// review: the start's alarms went into the service started on the taken port, and were lost with it
it("service.listen's port taken: the page on a free port, etc_lane_alarms_total counts the start's alarm", async () => {
  const port = (taken.address() as AddressInfo).port;
  const files = writeDemoFiles(
    dir,
    (config) => {
      config.service = { ...config.service, listen: `127.0.0.1:${port}` };
    },
    {
      name: "port-taken",
      seed: 3,
      defaults: { zoneMs: 700, balance: 20000, entryStation: "0101", class: 1 },
      traffic: { gapMs: 350, vehicles: [{ id: "normal-1", plate: "湘A12345", class: 1 }] },
    },
  );
  let url: string | undefined;
  let metrics: string | undefined;
  let endStay!: () => void;
  const stayUntil = new Promise<void>((resolve) => {
    endStay = resolve;
  });
  await runDemo({
    ...files,
    write: (l) => {
      const stay = /^the lane stays open with its page at (\S+);/.exec(l);
      if (stay) {
        url = stay[1];
        void fetch(new URL("metrics", url))
          .then((res) => res.text())
          .then((t) => {
            metrics = t;
          })
          .finally(endStay);
      }
    },
    stayUntil,
  });
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  expect(url).not.toBe(`http://127.0.0.1:${port}/`);
  const counted = parsePrometheusText(metrics ?? "")
    .get("etc_lane_alarms_total")
    ?.samples.find((s) => s.labels.code === "status-list.loaded");
  expect(counted?.value).toBe(1);
}, 120_000);
