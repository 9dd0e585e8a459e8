/**
 * The maintenance page, rendered on the server as plain HTML (no framework, no build step). The page's
 * script (assets/page.js) only swaps in fresh fragments and prepends live-feed rows, both rendered here,
 * so there is one place that decides how a value is shown. Every value from the lane goes through esc();
 * card numbers are masked, in their columns (maskCardId), in the free text the lane wrote (maskCardIds:
 * trail messages, booth case details, the lane's and the uplink's error texts), in the search's errors and
 * in the search form's card field (maskTypedCard).
 */

import { showRawBytes } from "../../../firmware-bridge/frames/gbk-text.js";
import { laneLabel } from "../../journal/trade-id.js";
import { operatorLabel } from "../../lane/operator-close.js";
import {
  duration,
  KIND_LABEL,
  LANE_STATUS_LABEL,
  localTime,
  maskCardId,
  maskCardIds,
  maskTypedCard,
  ms3,
  offsetLabel,
  yuan,
} from "../format.js";
import { CHART_COLUMNS, type ChartColumn, type Extent } from "../history.js";
import type {
  LaneSnapshot,
  TrailQuery,
  TrailSearchResult,
  VehicleRecordView,
  VerifyView,
} from "../lane-view.js";

const ESC_ANY = /[&<>"'\uf780-\uf7ff]/;
const ESC_ALL = /[&<>"']/g;
const ESC_AS: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * HTML-escapes a value (& < > " '); one test and, only when needed, one pass (a live-feed row calls it 11
 * times). A plate's byte that was no GBK text (the reserved character U+F700 + byte,
 * firmware-bridge/frames/gbk-text.ts) is shown as that byte, `\xff`.
 */
export function esc(s: unknown): string {
  const t = String(s);
  return ESC_ANY.test(t) ? showRawBytes(t).replace(ESC_ALL, (c) => ESC_AS[c] as string) : t;
}

const bi = (zh: string, en: string): string => `${esc(zh)} <span class="en">${esc(en)}</span>`;

export function laneName(s: LaneSnapshot): string {
  return laneLabel(s.lane);
}

// ---- the live feed ---------------------------------------------------------------------------------

export function vehicleRow(r: VehicleRecordView, utcOffsetMinutes: number): string {
  const k = KIND_LABEL[r.kind] ?? { zh: r.kind, en: r.kind };
  return (
    `<tr data-seq="${esc(r.seq)}" class="k-${esc(r.kind)}">` +
    `<td>${esc(localTime(r.at, utcOffsetMinutes).slice(11))}</td>` +
    `<td><span class="tag k-${esc(r.kind)}">${esc(k.zh)} ${esc(k.en)}</span>` +
    (r.path === "booth" ? ` <span class="tag p-booth">人工 booth</span>` : "") +
    "</td>" +
    `<td class="code">${esc(r.outcome)}</td>` +
    `<td class="mono">${esc(maskCardId(r.cardId))}</td>` +
    `<td class="mono">${esc(r.obuId)}</td>` +
    `<td>${esc(r.plate ?? "-")}</td>` +
    `<td class="num">${esc(yuan(r.kind === "stop" ? null : r.amount))}</td>` +
    `<td class="num">${esc(ms3(r.decisionMs))}</td>` +
    "</tr>"
  );
}

const FEED_HEAD =
  `<tr><th>${bi("时间", "time")}</th><th>${bi("结果", "result")}</th><th>${bi("原因", "outcome/reason")}</th>` +
  `<th>${bi("卡号", "card")}</th><th>OBU</th><th>${bi("车牌", "plate")}</th><th>${bi("金额", "yuan")}</th>` +
  `<th>${bi("决策", "decision")}</th></tr>`;

// ---- the state panels (swapped as one fragment) ---------------------------------------------------

function linkBadge(status: string): string {
  const zh: Record<string, string> = {
    up: "正常",
    down: "断开",
    connecting: "连接中",
    stopped: "停止",
    disabled: "未配置",
    online: "在线",
    degraded: "降级",
    offline: "离线",
  };
  const cls = status === "up" || status === "online" ? "ok" : status === "disabled" ? "muted" : "bad";
  return `<span class="badge ${cls}">${esc(zh[status] ?? status)} ${esc(status)}</span>`;
}

function card(title: string, body: string, testId: string): string {
  return `<section class="card" data-testid="${esc(testId)}"><h3>${title}</h3>${body}</section>`;
}

function kv(rows: [string, string][]): string {
  return `<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

/**
 * Records per upload in use, with the configured number when smaller (the uplink halves it after uploads
 * that failed in a way their batch may cause: docs/station-api.md, "A batch the station does not take");
 * "-" without a station. As `etc-lane status` says it (src/cli/commands/status.ts).
 */
function batchText(b: LaneSnapshot["uplink"]["batch"]): string {
  if (b === null) return "-";
  return b.size < b.max ? `${b.size} of ${b.max} (reduced after failed uploads)` : String(b.size);
}

export function renderState(
  s: LaneSnapshot,
  chart: readonly ChartColumn[],
  verify: VerifyView | null,
): string {
  const off = s.lane.utcOffsetMinutes;
  const st = LANE_STATUS_LABEL[s.state.status] ?? { zh: s.state.status, en: s.state.status };
  const trade = s.state.canTrade;
  const laneCard =
    `<section class="lane-state ${trade ? "ok" : "bad"}" data-testid="lane-state" data-status="${esc(s.state.status)}">` +
    `<div class="big">${esc(st.zh)} <span class="en">${esc(st.en)}</span></div>` +
    `<div class="why">${esc(maskCardIds(s.state.detail) || (trade ? "可以交易 trading" : ""))}` +
    `${s.state.reason ? ` <span class="code">[${esc(s.state.reason)}]</span>` : ""}</div>` +
    `<div class="since">${bi("自", "since")} ${esc(localTime(s.state.since, off))}` +
    `${s.state.operatorClosed ? ` · ${bi("操作员关闭", "closed by operator")} ${esc(operatorLabel(s.state.operatorClosed.user, s.state.operatorClosed.sudoUser))}` : ""}</div>` +
    "</section>";

  const c = s.rsu.counters;
  const rsu = card(
    bi("路侧单元", "RSU"),
    kv([
      [bi("链路", "link"), linkBadge(s.rsu.status) + (s.rsu.reason ? ` ${esc(s.rsu.reason)}` : "")],
      [bi("设备", "device"), s.rsu.device ? esc(`${s.rsu.device.rsuId} v${s.rsu.device.version}`) : "-"],
      [
        "PSAM",
        s.rsu.device
          ? esc(s.rsu.device.psams.map((p) => `${p.terminalId}${p.authorised ? "" : " (!)"}`).join(", "))
          : "-",
      ],
      [
        bi("帧", "frames"),
        esc(
          `in ${c.framesIn ?? 0} / out ${c.framesOut ?? 0} · dup ${c.duplicates ?? 0} · bad ${(c.checksumErrors ?? 0) + (c.decodeErrors ?? 0)} · reconnects ${c.reconnects ?? 0}` +
            // the line's own trouble, named only when it happened (firmware-bridge/link/rsu-link.ts)
            (c.echoes ? ` · echoes ${c.echoes}` : "") +
            (c.failedAnswerWrites ? ` · answers not written ${c.failedAnswerWrites}` : ""),
        ),
      ],
    ]),
    "rsu",
  );
  const reader = s.reader
    ? card(
        bi("读卡器", "card reader"),
        kv([
          [
            bi("链路", "link"),
            linkBadge(s.reader.status) + (s.reader.reason ? ` ${esc(s.reader.reason)}` : ""),
          ],
          ...(s.booth.desk?.readerUnfit
            ? [
                [
                  bi("人工处理", "booth"),
                  `<span class="badge bad">${esc("不可用 unfit")}</span> ${esc(s.booth.desk.readerUnfit)}`,
                ] as [string, string],
              ]
            : []),
        ]),
        "reader",
      )
    : "";
  const sl = s.statusList;
  // the uplink's download of a bundle, then its apply (a full list's build takes tens of seconds)
  const update =
    sl.applying !== null
      ? `applying ${sl.applying}`
      : sl.download !== null
        ? `downloading ${sl.download.name}, page ${sl.download.pagesDone}/${sl.download.pages}`
        : null;
  const statusList = card(
    bi("黑名单", "status list"),
    kv([
      [
        bi("状态", "state"),
        `<span class="badge ${sl.state === "ok" ? "ok" : "bad"}">${esc(sl.state)}</span> ${esc(maskCardIds(sl.reason))}`,
      ],
      [
        bi("全量版本", "full"),
        `<span class="mono">${esc(sl.versions.full ?? "-")}</span> · ${esc(duration(sl.ages.fullMs))}`,
      ],
      [
        bi("增量版本", "delta"),
        `<span class="mono">${esc(sl.versions.delta ?? "-")}</span> · ${esc(duration(sl.ages.deltaMs))}`,
      ],
      [bi("条目", "entries"), sl.counts ? esc(`${sl.counts.cards} cards, ${sl.counts.obus} OBUs`) : "-"],
      ...(update !== null
        ? [
            [bi("更新", "update"), `<span data-testid="status-list-update">${esc(update)}</span>`] as [
              string,
              string,
            ],
          ]
        : []),
    ]),
    "status-list",
  );
  const u = s.uplink;
  const uplink = card(
    bi("上传队列", "upload queue"),
    kv([
      [bi("站级", "station"), linkBadge(u.state)],
      [bi("待上传", "pending"), `<b data-testid="queue-depth">${esc(u.queueDepth)}</b>`],
      [bi("挂起", "held"), esc(u.held)],
      [bi("最早待传", "oldest"), esc(duration(u.oldestPendingAgeMs))],
      [bi("每批", "batch"), `<span data-testid="uplink-batch">${esc(batchText(u.batch))}</span>`],
      [bi("上次成功", "last ok"), esc(localTime(u.lastSuccessAt, off))],
      [
        bi("错误", "error"),
        u.lastError ? esc(maskCardIds(`${u.lastError.code}: ${u.lastError.message}`)) : "-",
      ],
    ]) + renderCharts(chart, off),
    "uplink",
  );
  const v = verify;
  // a run that threw (src/audit/background-verify.ts couldNotRun) measured nothing: no range, no tail
  const verifyCard = card(
    bi("审计校验", "last verify"),
    v
      ? kv([
          [
            bi("结果", "result"),
            `<span class="badge ${v.ok ? "ok" : "bad"}" data-testid="verify-result">${
              v.ok ? "完好 intact" : v.couldNotRun ? "未能校验 could not run" : "异常 BROKEN"
            }</span>`,
          ],
          [bi("时间", "at"), esc(localTime(v.at, off))],
          [bi("范围", "range"), v.range && !v.couldNotRun ? esc(`${v.range.from}..${v.range.to}`) : "-"],
          [bi("未封存", "unsealed"), v.couldNotRun ? "-" : esc(v.unsealed)],
          ...(v.problem ? ([[bi("问题", "problem"), esc(v.problem)]] as [string, string][]) : []),
        ])
      : `<p class="muted">${bi("尚未校验", "not verified yet")}: etc-lane audit verify</p>`,
    "verify",
  );
  const j = s.journal;
  const laneInfo = card(
    bi("车道", "lane"),
    kv([
      [
        bi("日志", "journal"),
        `${j.healthy ? '<span class="badge ok">正常 ok</span>' : '<span class="badge bad">故障 FAILED</span>'} seq ${esc(j.lastSeq)}` +
          (j.error
            ? ` <span class="code" data-testid="journal-error">${esc(maskCardIds(`${j.error.code}: ${j.error.message}`))}</span>`
            : ""),
      ],
      ...keptBehindTrailRows(j),
      [bi("在途", "in flight"), esc(s.inFlight.length)],
      [bi("车辆", "vehicles"), esc(s.counters.vehicles ?? "-")],
      [
        bi("时钟偏差", "clock skew"),
        s.clock.skewToStationMs === null ? "-" : esc(`${s.clock.skewToStationMs} ms`),
      ],
      [bi("运行", "uptime"), esc(duration(s.process.uptimeMs))],
    ]),
    "lane-info",
  );
  return (
    `<div class="top">${laneCard}${laneInfo}${rsu}${reader}</div>` +
    `<div class="grid">${uplink}${statusList}${verifyCard}</div>` +
    renderBooth(s)
  );
}

/**
 * What journal.db keeps since it was found behind the audit trail (docs/journal.md, "A journal behind the
 * audit trail"): a row only when something is kept, naming the suspects' seqs and the intents' ids, whose
 * cards and OBUs stay held until an operator settles or resolves each.
 */
function keptBehindTrailRows(j: LaneSnapshot["journal"]): [string, string][] {
  const k = j.keptBehindTrail;
  if (k.suspects.length === 0 && k.intents.length === 0) return [];
  const parts = [
    ...(k.suspects.length ? [`suspects ${k.suspects.map((x) => x.seq).join(", ")} (journal settle)`] : []),
    ...(k.intents.length ? [`intents ${k.intents.join(", ")} (journal resolve-intent)`] : []),
  ];
  return [
    [
      bi("恢复后保留", "kept behind trail"),
      `<span class="badge bad">${bi("卡被冻结", "cards held")}</span> <span data-testid="kept-behind-trail">${esc(parts.join("; "))}</span>`,
    ],
  ];
}

function renderBooth(s: LaneSnapshot): string {
  const off = s.lane.utcOffsetMinutes;
  const rows = s.booth.cases
    .map(
      (b) =>
        `<tr data-case="${esc(b.id)}"><td>${esc(localTime(b.openedAt, off).slice(11))}</td><td>${esc(b.kind)}</td>` +
        `<td class="code">${esc(b.reason)}</td><td>${esc(maskCardIds(b.detail))}</td><td class="mono">${esc(maskCardId(b.cardId))}</td>` +
        `<td class="mono">${esc(b.obuId ?? "-")}</td><td>${esc(b.plate ?? "-")}</td></tr>`,
    )
    .join("");
  return (
    `<section class="wide" data-testid="booth"><h2>${bi("人工处理队列", "booth queue")} <span class="count">${esc(s.booth.cases.length)}</span></h2>` +
    (rows
      ? `<table><thead><tr><th>${bi("时间", "time")}</th><th>${bi("类别", "kind")}</th><th>${bi("原因", "reason")}</th><th>${bi("说明", "detail")}</th><th>${bi("卡号", "card")}</th><th>OBU</th><th>${bi("车牌", "plate")}</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p class="muted">${bi("无待处理车辆", "no vehicle waiting")}</p>`) +
    "</section>"
  );
}

// ---- the chart: inline SVG, no library --------------------------------------------------------------

/**
 * The chart's polyline(s) for one series, from the history's columns (History.chart(): at most one per
 * pixel, whatever `service.historyMinutes` and `service.historyIntervalSeconds` make the number of points),
 * so the string built and the work on the lane's thread are bounded by the chart's width. A column is one
 * vertex when its lowest and highest value are equal (always so for a column of one point), else both in
 * the order they came, so a peak narrower than a pixel is still drawn; a column without the series is a gap.
 */
function polyline(
  columns: readonly ChartColumn[],
  pick: (c: ChartColumn) => Extent | null,
  w: number,
  h: number,
  max: number,
  cls: string,
): string {
  if (columns.length === 0 || max <= 0) return "";
  const step = columns.length > 1 ? w / (columns.length - 1) : 0;
  const y = (v: number): string => (h - (Math.min(v, max) / max) * h).toFixed(1);
  const segs: string[] = [];
  let cur: string[] = [];
  columns.forEach((c, i) => {
    const e = pick(c);
    if (e === null) {
      if (cur.length) segs.push(cur.join(" "));
      cur = [];
      return;
    }
    const x = (i * step).toFixed(1);
    if (e.lo === e.hi) cur.push(`${x},${y(e.lo)}`);
    else if (e.loFirst) cur.push(`${x},${y(e.lo)}`, `${x},${y(e.hi)}`);
    else cur.push(`${x},${y(e.hi)}`, `${x},${y(e.lo)}`);
  });
  if (cur.length) segs.push(cur.join(" "));
  return segs.map((p) => `<polyline class="${cls}" points="${p}"/>`).join("");
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * e) return m * e;
  return 10 * e;
}

export function renderCharts(columns: readonly ChartColumn[], utcOffsetMinutes: number): string {
  const W = CHART_COLUMNS;
  const H = 70;
  if (columns.length === 0)
    return `<p class="muted chart-empty">${bi("图表在第一个采样点后显示", "the chart starts after the first sample")}</p>`;
  const first = columns[0] as ChartColumn;
  const last = columns[columns.length - 1] as ChartColumn;
  const span = `${localTime(first.from, utcOffsetMinutes).slice(11, 16)} – ${localTime(last.to, utcOffsetMinutes).slice(11, 16)}`;
  const qMax = niceMax(Math.max(...columns.map((c) => c.queueDepth.hi)));
  const lMax = niceMax(Math.max(0, ...columns.map((c) => c.decisionMaxMs?.hi ?? 0)));
  const svg = (title: string, body: string, max: string, testId: string): string =>
    `<figure class="chart" data-testid="${testId}"><figcaption>${title} <span class="muted">(max ${esc(max)}, ${esc(span)})</span></figcaption>` +
    `<svg viewBox="-1 -1 ${W + 2} ${H + 2}" width="${W}" height="${H}" role="img" aria-label="${esc(testId)}">` +
    `<rect class="frame" x="0" y="0" width="${W}" height="${H}"/>${body}</svg></figure>`;
  return (
    svg(
      bi("队列深度", "queue depth"),
      polyline(columns, (c) => c.queueDepth, W, H, qMax, "s-queue"),
      String(qMax),
      "chart-queue",
    ) +
    svg(
      `${bi("决策时延", "decision latency")} <span class="legend"><i class="s-max"></i>max <i class="s-p50"></i>p50</span>`,
      polyline(columns, (c) => c.decisionMaxMs, W, H, lMax, "s-max") +
        polyline(columns, (c) => c.decisionP50Ms, W, H, lMax, "s-p50"),
      `${lMax} ms`,
      "chart-latency",
    )
  );
}

// ---- search ---------------------------------------------------------------------------------------

export interface SearchForm {
  since: string;
  until: string;
  card: string;
  obu: string;
  plate: string;
  reason: string;
  kind: string;
}

export const EMPTY_FORM: SearchForm = {
  since: "",
  until: "",
  card: "",
  obu: "",
  plate: "",
  reason: "",
  kind: "",
};

/**
 * The search form, filled with what was searched for (../http/search.ts searchFromParams: the times as
 * datetime-local values); the card number masked as everywhere on the page (the URL keeps what was typed). Sent again unchanged, the masked number is refused, saying to give it in
 * full (src/service/trail-filters.ts): a search never widens to every card without saying so.
 */
/**
 * A time field's step: seconds, or milliseconds when the time shown has them (a time searched with them,
 * `.250`): with step 1 the browser holds such a value invalid and would not send the form again.
 */
function timeStep(value: string): string {
  return value.includes(".") ? 'step="0.001"' : 'step="1"';
}

function renderSearchForm(f: SearchForm): string {
  const input = (name: keyof SearchForm, label: string, type = "text", extra = ""): string =>
    `<label>${label}<input type="${type}" name="${name}" value="${esc(name === "card" ? maskTypedCard(f[name]) : f[name])}" ${extra}></label>`;
  const kinds = ["", "transaction", "stop", "suspect", "lane", "alarm", "operator", "status-list", "uplink"];
  // a kind the list does not name (lane.alarm, operator.lane.close: any the search takes) is shown as asked,
  // not as "all", which sent again would search every kind
  if (!kinds.includes(f.kind)) kinds.push(f.kind);
  return (
    `<form class="search" method="get" action="search" data-testid="search-form">` +
    input("since", bi("从", "since"), "datetime-local", timeStep(f.since)) +
    input("until", bi("到", "until"), "datetime-local", timeStep(f.until)) +
    input("card", bi("卡号", "card"), "text", 'inputmode="numeric" autocomplete="off"') +
    input("obu", "OBU", "text", 'autocomplete="off"') +
    input("plate", bi("车牌", "plate")) +
    input("reason", bi("原因", "reason")) +
    `<label>${bi("类别", "kind")}<select name="kind">${kinds
      .map(
        (k) => `<option value="${esc(k)}"${k === f.kind ? " selected" : ""}>${esc(k || "全部 all")}</option>`,
      )
      .join("")}</select></label>` +
    `<button type="submit">${bi("查询", "search")}</button></form>`
  );
}

export function renderSearchResults(
  q: TrailQuery,
  r: TrailSearchResult | { error: string },
  utcOffsetMinutes: number,
): string {
  if ("error" in r) return `<p class="error" data-testid="search-error">${esc(maskCardIds(r.error))}</p>`;
  const rows = r.rows
    .map(
      (x) =>
        `<tr data-trail-seq="${esc(x.seq)}" class="sev-${esc(x.severity)}"><td class="num">${esc(x.seq)}</td>` +
        `<td>${esc(localTime(x.at, utcOffsetMinutes))}</td><td>${esc(x.type)}</td><td class="code">${esc(maskCardIds(x.outcome ?? "-"))}</td>` +
        `<td class="mono">${esc(maskCardId(x.cardId))}</td><td class="mono">${esc(x.obuId ?? "-")}</td><td>${esc(maskCardIds(x.plate ?? "-"))}</td>` +
        `<td class="num">${esc(yuan(x.amount))}</td><td>${esc(maskCardIds(x.message))}</td></tr>`,
    )
    .join("");
  return (
    `<p class="muted" data-testid="search-count">${esc(r.rows.length)} ${bi("条", "rows")}${r.truncated ? ` (${bi("仅显示最新", "newest shown")} ${esc(q.limit)})` : ""}</p>` +
    (r.partial
      ? `<p class="error" data-testid="search-partial">${bi("未查完", "partial")}: ${esc(`only the newest ${r.scanned ?? "?"} entries were searched, back to ${localTime(r.partial.reachedAt, utcOffsetMinutes)}; older ones need etc-lane audit search`)}</p>`
      : "") +
    `<table data-testid="search-results"><thead><tr><th>#</th><th>${bi("时间", "time")}</th><th>${bi("类别", "type")}</th><th>${bi("原因", "outcome")}</th><th>${bi("卡号", "card")}</th><th>OBU</th><th>${bi("车牌", "plate")}</th><th>${bi("金额", "yuan")}</th><th>${bi("说明", "message")}</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

// ---- the page --------------------------------------------------------------------------------------

export interface PageParts {
  snapshot: LaneSnapshot;
  /** the history's chart columns (History.chart()) */
  chart: readonly ChartColumn[];
  verify: VerifyView | null;
  form: SearchForm;
  /** rendered results when the page answers a search */
  results: string | null;
}

export function renderPage(p: PageParts): string {
  const s = p.snapshot;
  const off = s.lane.utcOffsetMinutes;
  const roleZh = s.lane.role === "exit" ? "出口" : "入口";
  const feed = s.lastTransactions.map((r) => vehicleRow(r, off)).join("");
  return `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(laneName(s))} ETC 车道维护 lane maintenance</title>
<link rel="stylesheet" href="assets/page.css">
<script src="assets/page.js" defer></script>
</head>
<body data-utc-offset="${esc(off)}">
<header>
<h1>ETC ${esc(roleZh)}车道 <span class="mono">${esc(laneName(s))}</span> <span class="en">${esc(s.lane.role)} lane maintenance</span></h1>
<div class="meta">${bi("只读", "read-only")} · ${bi("时区", "time zone")} UTC${esc(offsetLabel(off))} · <span id="live" class="badge muted" data-testid="live">${bi("实时连接中", "connecting")}</span> · <a href="status">/status</a> · <a href="metrics">/metrics</a></div>
</header>
<main>
<div id="state">${renderState(s, p.chart, p.verify)}</div>
<section class="wide" data-testid="feed-section"><h2>${bi("实时过车", "live vehicles")} <span class="count" id="feed-count">${esc(s.lastTransactions.length)}</span></h2>
<table><thead>${FEED_HEAD}</thead><tbody id="feed" data-testid="feed">${feed}</tbody></table></section>
<section class="wide" id="search" data-testid="search"><h2>${bi("审计查询", "trail search")}</h2>
${renderSearchForm(p.form)}
<div id="results">${p.results ?? ""}</div></section>
</main>
<footer>etc-lane · pid ${esc(s.process.pid)} · Node ${esc(s.process.node)} · ${bi("启动于", "started")} ${esc(localTime(s.process.startedAt, off))}</footer>
</body>
</html>
`;
}

export function renderLogin(failed: boolean): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>etc-lane ${esc("登录 sign in")}</title><link rel="stylesheet" href="assets/page.css"></head>
<body><main class="login"><h1>ETC 车道维护 <span class="en">lane maintenance</span></h1>
${failed ? `<p class="error">${bi("令牌错误", "wrong token")}</p>` : ""}
<form method="post" action="login"><label>${bi("访问令牌", "access token")} <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">${bi("进入", "enter")}</button></form></main></body></html>
`;
}
