/**
 * Malformed requests a client without the token can send (src/service/http/router.ts): each is answered
 * as the client's mistake (400, 401, 421), and none makes the service write a line to the lane's log.
 * A request that does fail (500) is logged at most once a minute. The service's clocks (the monotonic one
 * the rate uses, the wall clock) are the test's.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { signInCookieName } from "../../src/service/http/token-auth.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const TOKEN = "s3cret-token-0123456789";

interface Line {
  level: "error" | "warn";
  obj: object | string;
  msg: string | undefined;
}

function capture(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger: Logger = {
    ...silentLogger,
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    error: (obj, msg) => lines.push({ level: "error", obj, msg }),
    child: () => logger,
  };
  return { logger, lines };
}

function tokenFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "etc-edge-"));
  const file = join(dir, "token");
  writeFileSync(file, `${TOKEN}\n`);
  chmodSync(file, 0o600);
  return file;
}

/** Sends `head` (request line and headers, without the blank line) with Connection: close; the status. */
function raw(url: string, head: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(`${head}\r\nConnection: close\r\n\r\n`));
    let answer = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      answer += d;
    });
    s.on("error", reject);
    s.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0)));
  });
}

describe("malformed requests without the token", () => {
  it("a cookie that does not decode is a wrong token (401), a request target URL refuses is 400; nothing is logged as an error", async () => {
    const { logger, lines } = capture();
    rig = await startRig({ tokenFile: tokenFile() }, false, { logger });
    const host = new URL(rig.service.url).host;
    const name = signInCookieName(Number(new URL(rig.service.url).port));
    for (const cookie of [`${name}=%`, `${name}=%E0%A4%A`, `a=1; ${name}=%zz`])
      expect(
        await raw(rig.service.url, `GET /status HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}`),
        cookie,
      ).toBe(401);
    expect(await raw(rig.service.url, `GET //[${"a".repeat(8000)} HTTP/1.1\r\nHost: ${host}`)).toBe(400);
    expect(await raw(rig.service.url, `GET //[x HTTP/1.1\r\nHost: ${host}`)).toBe(400);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    // the service still answers, and the right token still works
    expect((await rig.get("/status", { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it("without a token (loopback) the Host is checked before the request target is read: 421, else 400; nothing logged", async () => {
    const { logger, lines } = capture();
    rig = await startRig({}, false, { logger });
    const host = new URL(rig.service.url).host;
    expect(await raw(rig.service.url, "GET //[x HTTP/1.1\r\nHost: rebind.attacker.example")).toBe(421);
    expect(await raw(rig.service.url, `GET //[x HTTP/1.1\r\nHost: ${host}`)).toBe(400);
    expect(lines).toEqual([]);
  });
});

describe("a request that fails unexpectedly (500)", () => {
  it("is logged at most once a minute, its URL cut short, the next line counting those not logged", async () => {
    let t = Date.UTC(2026, 10, 26);
    const { logger, lines } = capture();
    rig = await startRig({}, false, { monotonicNow: () => t, logger });
    vi.spyOn(rig.service.metrics, "text").mockRejectedValue(new Error("registry broken"));
    const path = `/metrics?${"a".repeat(8000)}`;
    const errors = () => lines.filter((l) => l.level === "error");
    for (let i = 0; i < 3; i++) expect((await rig.get(path)).status).toBe(500);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatchObject({
      msg: "service request failed",
      obj: {
        err: "registry broken",
        method: "GET",
        url: `${path.slice(0, 200)}... (8009 characters)`,
        unlogged: 0,
      },
    });
    t += 59_999;
    expect((await rig.get(path)).status).toBe(500);
    expect(errors()).toHaveLength(1);
    t += 1; // a minute after the line
    expect((await rig.get("/metrics")).status).toBe(500);
    expect(errors()).toHaveLength(2);
    expect(errors()[1]).toMatchObject({
      msg: "service request failed (and 3 more, not logged, since the previous such line)",
      obj: { url: "/metrics", unlogged: 3 },
    });
  });

  // review: the minute was measured on the wall clock; one stepped back an hour silenced the line for the hour
  it("a wall clock stepped back does not silence the line: the next is logged a monotonic minute after the previous", async () => {
    let wall = Date.UTC(2026, 10, 26);
    let mono = 5_000;
    const { logger, lines } = capture();
    rig = await startRig({}, false, { now: () => wall, monotonicNow: () => mono, logger });
    vi.spyOn(rig.service.metrics, "text").mockRejectedValue(new Error("registry broken"));
    expect((await rig.get("/metrics")).status).toBe(500);
    wall -= 3_600_000;
    mono += 60_000;
    expect((await rig.get("/metrics")).status).toBe(500);
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "service request failed",
      "service request failed",
    ]);
  });
});
