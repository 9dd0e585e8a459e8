/**
 * The tokenless loopback service answers only requests that name it (src/service/http/host-origin.ts):
 * a DNS-rebinding page's Host is refused 421, another site's page's requests 403; scripts (curl,
 * Prometheus) and the page itself are served.
 */
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** A request with exactly these headers (fetch would not send a chosen Host). */
function raw(
  url: string,
  path: string,
  headers: Record<string, string>,
  method = "GET",
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const q = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    q.on("error", reject);
    q.end();
  });
}

describe("Host and Origin checks without a token", () => {
  it("refuses a Host that is not the service's (DNS rebinding) with 421, and serves its own names", async () => {
    rig = await startRig();
    const port = new URL(rig.service.url).port;
    const rebound = await raw(rig.service.url, "/status", {
      host: `rebind.attacker.example:${port}`,
      origin: `http://rebind.attacker.example:${port}`,
      "sec-fetch-site": "same-origin",
    });
    expect(rebound.status).toBe(421);
    expect(rebound.body).not.toContain("cardId");
    expect((await raw(rig.service.url, "/status", { host: "127.0.0.1" })).status).toBe(421);
    expect((await raw(rig.service.url, "/status", { host: `127.0.0.1:${Number(port) + 1}` })).status).toBe(
      421,
    );
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`])
      expect((await raw(rig.service.url, "/status", { host })).status, host).toBe(200);
  });

  it("refuses another site's requests with 403 but opens the page from a link", async () => {
    rig = await startRig();
    const host = new URL(rig.service.url).host;
    const crossFetch = await raw(rig.service.url, "/status", {
      host,
      origin: "http://attacker.example",
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "no-cors",
    });
    expect(crossFetch.status).toBe(403);
    expect(crossFetch.body).toMatch(/cross-site request refused/);
    // an older browser: no Sec-Fetch-* but a foreign Origin
    expect(
      (await raw(rig.service.url, "/search?kind=alarm", { host, origin: "http://attacker.example" })).status,
    ).toBe(403);
    // a local page on another port is "same-site", not the service
    expect(
      (
        await raw(rig.service.url, "/events", {
          host,
          "sec-fetch-site": "same-site",
          "sec-fetch-mode": "cors",
        })
      ).status,
    ).toBe(403);
    // a cross-site link may open the page, not run a search
    const nav = {
      host,
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "navigate",
      "sec-fetch-dest": "document",
    };
    expect((await raw(rig.service.url, "/", nav)).status).toBe(200);
    expect((await raw(rig.service.url, "/search?plate=A", nav)).status).toBe(403);
    // the page's own requests and scripts
    expect(
      (
        await raw(rig.service.url, "/fragment/state", {
          host,
          "sec-fetch-site": "same-origin",
          origin: `http://${host}`,
        })
      ).status,
    ).toBe(200);
    expect((await raw(rig.service.url, "/metrics", { host })).status).toBe(200);
    expect((await rig.get("/status")).status).toBe(200);
  });
});
