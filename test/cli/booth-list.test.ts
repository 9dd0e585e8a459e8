/**
 * `etc-lane booth list`: card numbers masked in the table and in `--json` unless `--full-ids`. A stand-in
 * lane answers `booth.list` on the control socket with one case that has a card.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { registerBooth } from "../../src/cli/commands/booth.js";
import type { BoothCaseLine } from "../../src/service/control/booth-actions.js";
import { controlSocketPath } from "../../src/service/control/protocol.js";
import { captureOutput } from "../helpers/cli.js";

const CARD = "43010000000000009001";
const MASKED = "4301************9001";
const CASE: BoothCaseLine = {
  id: "s7",
  kind: "stop",
  reason: "CARD_EXPIRED",
  // the lane's free text may name the card (the page masks it there too: src/service/page/render.ts)
  detail: `卡已过期 ${CARD}`,
  openedAt: Date.UTC(2026, 10, 26, 0, 15, 2),
  openedAtLocal: "2026-11-26T08:15:02.000+08:00",
  obuId: "A1000001",
  cardId: CARD,
  plate: "湘A12345",
  seq: 7,
  status: "waiting",
  vehicleClass: 1,
};

let dir: string;
let server: Server;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "etc-booth-list-"));
  server = createServer((sock) => {
    sock.once("data", () => {
      sock.end(
        `${JSON.stringify({ kind: "result", ok: true, message: "1 booth case(s)", data: { cases: [CASE] } })}\n`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(controlSocketPath(dir), resolve));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function boothList(args: string[]): Promise<string> {
  const io = captureOutput();
  const program = new Command("etc-lane").exitOverride();
  registerBooth(program);
  await program.parseAsync(["node", "etc-lane", "booth", "list", "--data-dir", dir, ...args]);
  io.restore();
  return io.out;
}

describe("booth list", () => {
  it("masks the case's card number in the table and in --json; --full-ids shows it in both", async () => {
    const table = await boothList([]);
    expect(table).toContain(MASKED);
    expect(table).not.toContain(CARD);
    const json = await boothList(["--json"]);
    expect(json).not.toContain(CARD);
    expect(JSON.parse(json)).toMatchObject({
      via: "lane",
      ok: true,
      data: { cases: [{ ...CASE, detail: `卡已过期 ${MASKED}`, cardId: MASKED }] },
    });
    expect(await boothList(["--full-ids"])).toContain(CARD);
    expect(JSON.parse(await boothList(["--json", "--full-ids"]))).toMatchObject({
      data: { cases: [CASE] },
    });
  });
});
