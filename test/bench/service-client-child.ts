/**
 * The status service's clients during the service benchmark, in their own process as Prometheus and a
 * browser would be: GET /metrics every second, and the page's live feed (GET /events) held open and read.
 * Argument: the service URL. Says "ready" once the feed is open; on `{ stop: N }` from the parent (N: the
 * vehicles the lane sent to the feed) it reports what it saw once N vehicles have arrived, or after 10 s
 * without them (the shortfall shows in the report), and exits.
 */
import { request } from "node:http";

const base = process.argv[2] as string;
let scrapes = 0;
let scrapeErrors = 0;
let scrapeBytes = 0;
let events = 0;
let vehicleEvents = 0;
let feedBytes = 0;

const scrape = (): void => {
  const req = request(new URL("metrics", base), (res) => {
    res.on("data", (d: Buffer) => {
      scrapeBytes += d.length;
    });
    res.on("end", () => {
      if (res.statusCode === 200) scrapes++;
      else scrapeErrors++;
    });
  });
  req.on("error", () => {
    scrapeErrors++;
  });
  req.end();
};
const timer = setInterval(scrape, 1000);

const feed = request(new URL("events", base), (res) => {
  process.send?.("ready");
  let buf = "";
  res.setEncoding("utf8");
  res.on("data", (d: string) => {
    feedBytes += d.length;
    buf += d;
    for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (block.startsWith("event: ")) events++;
      if (block.startsWith("event: vehicle")) vehicleEvents++;
    }
    if (expected !== null && vehicleEvents >= expected) report();
  });
});
feed.on("error", () => undefined);
feed.end();

let expected: number | null = null;
let reported = false;
function report(): void {
  if (reported) return;
  reported = true;
  clearInterval(timer);
  feed.destroy();
  process.send?.({ scrapes, scrapeErrors, scrapeBytes, events, vehicleEvents, feedBytes }, () =>
    process.exit(0),
  );
}

process.on("message", (m: unknown) => {
  const n = (m as { stop?: unknown } | null)?.stop;
  if (typeof n !== "number") return;
  expected = n;
  if (vehicleEvents >= n) report();
  else setTimeout(report, 10_000).unref();
});
