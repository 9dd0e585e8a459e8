/**
 * `etc-lane booth list` and `booth take`: card numbers masked, in the case's column and in its detail (the
 * lane's free text may name the card; the page masks it there too), in the table and in `--json`, unless
 * `--full-ids` (docs/booth.md §6). A stand-in lane answers `booth.list` and `booth.take` on the control
 * socket with one case that has a card.
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
const MASKED_CASE = { ...CASE, detail: `卡已过期 ${MASKED}`, cardId: MASKED };

let dir: string;
let server: Server;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "etc-booth-mask-"));
  server = createServer((sock) => {
    sock.once("data", (req) => {
      const { action } = JSON.parse(String(req)) as { action: string };
      const answer =
        action === "booth.take"
          ? { message: "case s42 taken: put the vehicle's card on the reader", data: { case: CASE } }
          : { message: "1 booth case(s)", data: { cases: [CASE] } };
      sock.end(`${JSON.stringify({ kind: "result", ok: true, ...answer })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(controlSocketPath(dir), resolve));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** `etc-lane booth <cmd...> --data-dir DIR <opts...>`: what it printed on stdout. */
async function booth(cmd: string[], ...opts: string[]): Promise<string> {
  const io = captureOutput();
  const program = new Command("etc-lane").exitOverride();
  registerBooth(program);
  await program.parseAsync(["node", "etc-lane", "booth", ...cmd, "--data-dir", dir, ...opts]);
  io.restore();
  return io.out;
}

describe("booth list", () => {
  it("masks the case's card number in the table and in --json; --full-ids shows it in both", async () => {
    const table = await booth(["list"]);
    expect(table).toContain(MASKED);
    expect(table).not.toContain(CARD);
    const json = await booth(["list"], "--json");
    expect(json).not.toContain(CARD);
    expect(JSON.parse(json)).toMatchObject({ via: "lane", ok: true, data: { cases: [MASKED_CASE] } });
    expect(await booth(["list"], "--full-ids")).toContain(CARD);
    expect(JSON.parse(await booth(["list"], "--json", "--full-ids"))).toMatchObject({
      data: { cases: [CASE] },
    });
  });
});

describe("booth take", () => {
  it("masks the taken case's card number in --json; --full-ids shows it", async () => {
    const json = await booth(["take", "s42"], "--json");
    expect(json).not.toContain(CARD);
    expect(JSON.parse(json)).toMatchObject({ via: "lane", ok: true, data: { case: MASKED_CASE } });
    expect(JSON.parse(await booth(["take", "s42"], "--json", "--full-ids"))).toMatchObject({
      data: { case: CASE },
    });
  });
});
