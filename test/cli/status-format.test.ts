/** `etc-lane status` for a person (src/cli/commands/status.ts formatStatus) and the page's cards (src/service/page/render.ts). */
import { expect, it } from "vitest";
import { formatStatus } from "../../src/cli/commands/status.js";
import { renderState } from "../../src/service/page/render.js";
import { baseSnapshot } from "../service/fake-lane.js";

const listRow = (text: string): string => text.split("\n").find((l) => l.startsWith("Status list")) ?? "";

it("the status-list row names the bundle being downloaded and its pages in so far, and nothing when none", () => {
  const s = baseSnapshot();
  expect(listRow(formatStatus(s))).toMatch(/full 202611260000 .*20000000 cards, 10000000 OBUs$/);
  s.statusList.download = { name: "full-202611270000.bundle", pages: 480, pagesDone: 120 };
  expect(listRow(formatStatus(s))).toMatch(/; downloading full-202611270000\.bundle, page 120\/480$/);
});

it("the status-list row and the page's status-list card name the bundle being applied, once downloaded", () => {
  const s = baseSnapshot();
  expect(renderState(s, [], null)).not.toContain("status-list-update");
  s.statusList.download = { name: "full-202611270000.bundle", pages: 480, pagesDone: 120 };
  expect(renderState(s, [], null)).toContain(
    'data-testid="status-list-update">downloading full-202611270000.bundle, page 120/480<',
  );
  s.statusList.download = null;
  s.statusList.applying = "full-202611270000.bundle";
  expect(listRow(formatStatus(s))).toMatch(/; applying full-202611270000\.bundle$/);
  expect(renderState(s, [], null)).toContain(
    'data-testid="status-list-update">applying full-202611270000.bundle<',
  );
});

it("card numbers in the lane's free text are masked as in their columns, unless --full-ids", () => {
  const card = "43010000000000009001";
  const s = baseSnapshot();
  s.state.detail = `uncertain debit on card ${card}`;
  s.uplink.lastError = { code: "E703", message: `station refused record of card ${card}`, at: s.at };
  const text = formatStatus(s);
  expect(text).not.toContain(card);
  expect(text).toContain("uncertain debit on card 4301************9001");
  expect(text).toContain("station refused record of card 4301************9001");
  expect(formatStatus(s, { fullIds: true })).toContain(`uncertain debit on card ${card}`);
});

const uploadRow = (text: string): string => text.split("\n").find((l) => l.startsWith("Upload queue")) ?? "";

it("the upload-queue row names the batch size in use, and the configured one when failed uploads reduced it", () => {
  const s = baseSnapshot();
  expect(uploadRow(formatStatus(s))).toMatch(/3 pending \(0 held\), oldest 1 s; batch 500; last success /);
  s.uplink.batch = { size: 62, max: 500 };
  expect(uploadRow(formatStatus(s))).toMatch(
    /; batch 62 of 500 \(reduced after failed uploads\); last success /,
  );
  // no station: no batch
  s.uplink = { ...s.uplink, state: "disabled", batch: null };
  expect(uploadRow(formatStatus(s))).not.toContain("batch");
});

it("a card reader the booth cannot use (its INFO at link-up) is named under the reader's row, nothing when it fits", () => {
  const s = baseSnapshot();
  s.reader = { status: "up", reason: null, since: s.at, counters: {} };
  expect(formatStatus(s)).not.toContain("unfit");
  s.booth.desk = {
    ...s.booth.desk!,
    readerUnfit: "reader.psamSlot is 2 but the reader's INFO says it has 1 PSAM slot(s)",
  };
  const lines = formatStatus(s).split("\n");
  const at = lines.findIndex((l) => l.startsWith("Card reader"));
  expect(lines[at + 1]).toMatch(
    /^ {2}unfit +booth not ready +reader\.psamSlot is 2 but the reader's INFO says/,
  );
});

it("the page's card-reader card names why the booth cannot use the reader (src/service/page/render.ts)", () => {
  const s = baseSnapshot();
  s.reader = { status: "up", reason: null, since: s.at, counters: {} };
  expect(renderState(s, [], null)).not.toContain("unfit");
  s.booth.desk = {
    ...s.booth.desk!,
    readerUnfit: "the reader's INFO says it takes frames of at most 256 bytes",
  };
  expect(renderState(s, [], null)).toMatch(
    /unfit<\/span> the reader&#39;s INFO says it takes frames of at most 256 bytes/,
  );
});

it("the page's RSU frames line names echoes of the lane's own frames and answers it could not write, only when there were any", () => {
  const s = baseSnapshot();
  s.rsu.counters = { ...s.rsu.counters, framesIn: 9, checksumErrors: 1, decodeErrors: 1 };
  const quiet = renderState(s, [], null);
  expect(quiet).toMatch(/in 9 \/ out \d+ · dup \d+ · bad 2 · reconnects \d+</);
  expect(quiet).not.toContain("echoes");
  s.rsu.counters = { ...s.rsu.counters, echoes: 4, failedAnswerWrites: 2 };
  expect(renderState(s, [], null)).toMatch(/· bad 2 · reconnects \d+ · echoes 4 · answers not written 2</);
});

it("what a journal found behind the audit trail keeps is named, with the command that releases each, card masked", () => {
  const s = baseSnapshot();
  expect(formatStatus(s)).not.toMatch(/Kept (suspect|intent)/);
  expect(renderState(s, [], null)).not.toContain("kept-behind-trail");
  s.journal.keptBehindTrail = {
    suspects: [
      {
        seq: 41,
        tradeId: "430101020326120600041",
        cardId: "43010000000000009001",
        obuSerial: "4301000000000077",
        plate: null,
        amount: 1250,
        recordedAt: "2026-12-06T10:00:00.000+08:00",
      },
    ],
    intents: [7],
  };
  const lines = formatStatus(s).split("\n");
  expect(lines.find((l) => l.startsWith("Kept suspect"))).toMatch(
    /^Kept suspect +seq 41 +not in journal\.db .*: 430101020326120600041, card 4301\*{12}9001, OBU 4301000000000077, 12\.50 yuan, recorded 2026-12-06T10:00:00\.000\+08:00; held until `etc-lane journal settle 41 --debited\|--not-debited --reason TEXT`$/,
  );
  expect(lines.find((l) => l.startsWith("Kept intent"))).toMatch(
    /^Kept intent +id 7 +.*`etc-lane journal resolve-intent 7 --resolved\|--recover --reason TEXT`$/,
  );
  expect(formatStatus(s, { fullIds: true })).toContain("card 43010000000000009001");
  expect(renderState(s, [], null)).toMatch(
    /data-testid="kept-behind-trail">suspects 41 \(journal settle\); intents 7 \(journal resolve-intent\)</,
  );
});

const boothRow = (text: string): string => text.split("\n").find((l) => l.startsWith("Booth queue")) ?? "";

// new-user walkthrough (session 36): a case the collector had taken was still shown as "waiting"
it("the booth-queue row counts the cases waiting, taken and being worked on", () => {
  const s = baseSnapshot();
  const one = {
    id: "c1",
    openedAt: s.at,
    kind: "stop",
    reason: "OBU_NO_CARD",
    detail: "标签无卡",
    obuId: null,
    cardId: null,
    plate: null,
    seq: null,
  };
  s.booth = { ...s.booth, cases: [] };
  expect(boothRow(formatStatus(s))).toMatch(/^Booth queue +0$/);
  s.booth.cases = [
    { ...one, status: "taken" },
    { ...one, id: "c2", status: "waiting" },
    { ...one, id: "c3", status: "waiting" },
  ];
  expect(boothRow(formatStatus(s))).toMatch(/^Booth queue +3 +2 waiting, 1 taken$/);
  s.booth.cases = [{ ...one, status: "active" }];
  expect(boothRow(formatStatus(s))).toMatch(/^Booth queue +1 +1 being worked on$/);
});
