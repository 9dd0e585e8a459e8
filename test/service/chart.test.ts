import { describe, expect, it } from "vitest";
import { History } from "../../src/service/history.js";
import { renderCharts } from "../../src/service/page/render.js";

/** Each `<polyline>` of a chart (by its test id) as its list of [x, y] vertices. */
function polylines(html: string, testId: string): [number, number][][] {
  const fig =
    new RegExp(`<figure class="chart" data-testid="${testId}">(.*?)</figure>`).exec(html)?.[1] ?? "";
  return [...fig.matchAll(/<polyline class="[^"]+" points="([^"]*)"\/>/g)].map((m) =>
    (m[1] as string).split(" ").map((v) => v.split(",").map(Number) as [number, number]),
  );
}

function history(points: number, queueAt: (i: number) => number, ticks = points): History {
  const h = new History(points);
  for (let i = 0; i < ticks; i++) {
    if (i % 3 !== 0) h.addVehicle(0.5 + (i % 7) * 0.1); // every third interval without a vehicle (null)
    h.tick(i * 1000, queueAt(i));
  }
  return h;
}

describe("the page's chart (360 px wide)", () => {
  it("draws a day of 1 s points (86,400) from at most one column per pixel, each its lowest and highest value", () => {
    const spikeAt = 43_210;
    const h = history(86_400, (i) => (i === spikeAt ? 1_000 : i % 50));
    const html = renderCharts(h.chart(), 480);
    const queue = polylines(html, "chart-queue");
    const latency = polylines(html, "chart-latency");
    expect(queue.length).toBe(1);
    expect(latency.length).toBe(2); // max and p50
    for (const vertices of [...queue, ...latency]) {
      expect(vertices.length).toBeLessThanOrEqual(2 * 361);
      expect(new Set(vertices.map(([x]) => x)).size).toBeLessThanOrEqual(361);
      expect(vertices.every(([x, y]) => x >= 0 && x <= 360 && y >= 0 && y <= 70)).toBe(true);
    }
    // the one-second spike, narrower than a pixel, is still drawn at the top (max 1000), as is the floor
    const [q] = queue as [[number, number][]];
    expect(q.filter(([, y]) => y === 0).length).toBe(1);
    expect(q.some(([, y]) => y === 70)).toBe(true);
  });

  it("draws a history no longer than the chart is wide one vertex per point", () => {
    const h = history(360, (i) => i % 50);
    const [q] = polylines(renderCharts(h.chart(), 480), "chart-queue") as [[number, number][]];
    expect(q.length).toBe(360);
    expect(q[1]).toEqual([Number((360 / 359).toFixed(1)), Number((70 - (1 / 50) * 70).toFixed(1))]);
  });

  it("keeps at most one column per pixel as the ring turns, and draws nothing older than the window", () => {
    // 720 points: two per column; 721 ticks, the first (a spike) has left the ring, its column half out
    const h = history(720, (i) => (i === 0 ? 1_000 : 10), 721);
    expect(h.list()[0]?.at).toBe(1_000);
    const columns = h.chart();
    expect(columns.length).toBe(360);
    expect(columns[0]?.from).toBe(2_000);
    expect(columns.at(-1)).toMatchObject({ from: 720_000, to: 720_000 });
    expect(Math.max(...columns.map((c) => c.queueDepth.hi))).toBe(10);
    for (let i = 721; i < 721 + 1_000; i++) h.tick(i * 1000, i % 5);
    expect(h.chart().length).toBeLessThanOrEqual(360);
    expect(h.chart().at(-1)?.to).toBe(1_720_000);
  });
});
