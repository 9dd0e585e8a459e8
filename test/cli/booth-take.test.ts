/**
 * `etc-lane booth take --json`: the taken case's card number masked unless `--full-ids`, as in `booth
 * list` (docs/booth.md §6). A stand-in lane answers `booth.take` on the control socket with a case that
 * has a card.
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
  id: "s42",
  kind: "stop",
  reason: "CARD_EXPIRED",
  // the lane's free text may name the card (the page masks it there too)
  detail: `卡已过期 ${CARD}`,
  openedAt: Date.UTC(2026, 10, 26, 0, 15, 2),
  openedAtLocal: "2026-11-26T08:15:02.000+08:00",
  obuId: "A1000001",
  cardId: CARD,
  plate: "湘A12345",
  seq: 42,
  status: "waiting",
  vehicleClass: 1,
};

let dir: string;
let server: Server;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "etc-booth-take-"));
  server = createServer((sock) => {
    sock.once("data", () => {
      sock.end(
        `${JSON.stringify({ kind: "result", ok: true, message: "case s42 taken: put the vehicle's card on the reader", data: { case: CASE } })}\n`,
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

async function boothTake(args: string[]): Promise<string> {
  const io = captureOutput();
  const program = new Command("etc-lane").exitOverride();
  registerBooth(program);
  await program.parseAsync(["node", "etc-lane", "booth", "take", "s42", "--data-dir", dir, ...args]);
  io.restore();
  return io.out;
}

describe("booth take", () => {
  it("masks the taken case's card number in --json; --full-ids shows it", async () => {
    const json = await boothTake(["--json"]);
    expect(json).not.toContain(CARD);
    expect(JSON.parse(json)).toMatchObject({
      via: "lane",
      ok: true,
      data: { case: { ...CASE, detail: `卡已过期 ${MASKED}`, cardId: MASKED } },
    });
    expect(JSON.parse(await boothTake(["--json", "--full-ids"]))).toMatchObject({
      data: { case: CASE },
    });
  });
});
