/**
 * Renders the maintenance page over the fake lane with an hour of history and saves the screenshot kept in
 * docs/ (`npx tsx test/service/page-screenshot.ts [out.png]`). Not a test: it only makes the picture.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { startLaneService } from "../../src/service/service.js";
import { launchChromium } from "./chromium.js";
import { FakeLane, FakeOperator, MemoryAudit, T0 } from "./fake-lane.js";

const out = process.argv[2] ?? "docs/maintenance-page.png";
const dataDir = mkdtempSync(join(tmpdir(), "etc-shot-"));
const lane = new FakeLane();
let clock = T0 - 3_600_000;
const service = await startLaneService({
  config: { listen: "127.0.0.1:0", historyIntervalSeconds: 10, historyMinutes: 60 },
  dataDir,
  view: lane,
  operator: auditedOperator(new FakeOperator(lane), new MemoryAudit()),
  processMetrics: false,
  now: () => clock,
});
// an hour of history: traffic with a morning peak, the queue growing while the station was away
for (let i = 0; i < 360; i++) {
  clock += 10_000;
  const n = 3 + Math.round(6 * Math.sin((i / 360) * Math.PI));
  for (let k = 0; k < n; k++)
    lane.pass({
      at: clock - (n - k) * 1000,
      decisionMs: 0.35 + ((i * 7 + k * 13) % 10) / 40 + (i === 200 ? 2.1 : 0),
    });
  lane.state = {
    ...lane.state,
    uplink: { ...lane.state.uplink, queueDepth: i > 150 && i < 230 ? (i - 150) * 4 : 3 },
  };
  service.pump.drain();
  service.sampleHistory();
}
lane.state = { ...lane.state, uplink: { ...lane.state.uplink, queueDepth: 3 } };
lane.pass({ kind: "stop", outcome: "CARD_ON_STATUS_LIST", plate: "湘A7F321", at: clock + 500 });
lane.pass({ kind: "suspect", outcome: "B5_MISSING", plate: "湘B20931", amount: 2150, at: clock + 1500 });
lane.pass({ plate: "粤S8U662", amount: 4500, at: clock + 2500 });
lane.verify = { ok: true, at: clock - 600_000, range: { from: 1, to: 4812 }, unsealed: 37, problem: null };
const browser = await launchChromium();
try {
  const page = await browser.newPage({
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    locale: "zh-CN",
    timezoneId: "Asia/Shanghai",
  });
  await page.goto(`${service.url}search?kind=stop`);
  await page.waitForSelector("#live.ok");
  lane.pass({ plate: "湘A12345", amount: 1250, at: clock + 3500 });
  await page.waitForSelector("#feed tr:nth-child(1)");
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`${out}\n`);
} finally {
  await browser.close();
  await service.close();
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
}
