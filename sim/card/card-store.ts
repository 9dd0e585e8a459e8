/**
 * One card store for every simulated path (docs/simulator.md, "Shared cards"): the RSU simulator reads a
 * card over DSRC and the reader simulator reads the same card at the booth, so its balance, offline
 * serial, 0019, 0018 and last transaction proof are one state. Cards are kept by card id (network +
 * serial, 20 digits); the first description of a card creates it, later ones get the same card.
 *
 * The store also owns the one ledger both paths write: every debit from either simulator, numbered in
 * one sequence, each line saying its `path` ("dsrc" or "booth").
 *
 * The RSU simulator plugs in through its CardEnvironment seam (sim/rsu/cards.ts): `store.environment()`
 * is one, and `store.ledgerSink("dsrc")` is the LedgerSink its `ledger` option takes.
 */
import { fileLedger, type LedgerEntry, type LedgerSink } from "../ledger/ledger.js";
import { decode0019, encode0015, encode0019 } from "./card-files.js";
import { createCardFromSpec } from "./card-spec.js";
import { type CardKeys, loadCardKeys } from "./crypto/keys.js";
import { type CardCommit, SimCard } from "./sim-card.js";
import { createPsam, type SimPsam } from "./sim-psam.js";
import type { Card0015, Card0019 } from "./types.js";

export type DebitPath = "dsrc" | "booth";

/** A card in a given state (the shape the RSU simulator's vehicles describe cards with). */
export interface CardState {
  file0015: Card0015;
  file0019: Card0019;
  balance: number;
  offlineSerial: number;
}

export interface CardStoreOptions {
  /** Keys the cards are diversified from and the PSAMs hold. Default: config/keys/card-test-keys.json. */
  keys?: CardKeys;
  /**
   * Seed of the INIT random numbers of cards the store creates without a random source, a uint32, each its
   * own run (0 included). Default 1.
   */
  seed?: number;
  /** The ledger: a file (JSON lines, appended) or a sink. Entries are also kept in memory (`ledger()`). */
  ledger?: string | LedgerSink;
}

/** The booth context of a debit (the ledger's vehicle fields); everything else comes from the card. */
export interface BoothDebitContext {
  outcome: LedgerEntry["outcome"];
  /** A label for the case, e.g. the script step or the vehicle; default "". */
  vehicleId?: string;
}

/**
 * The xorshift32 state of seed 0's first card (`random`; xorshift32 cannot run from 0). It is also seed
 * 2654435769's first state, so the first cards of seeds 0 and 2654435769 draw the same numbers: with seeds
 * 1..4294967295 unchanged, 2^32 seeds onto 2^32-1 nonzero states share one, whatever the constant.
 */
const ZERO_SEED_STATE = 0x9e37_79b9;

export class CardStore {
  readonly keys: CardKeys;
  private readonly cards = new Map<string, SimCard>();
  private readonly entries: LedgerEntry[] = [];
  private readonly sink: LedgerSink | undefined;
  private rngState: number;

  constructor(opts: CardStoreOptions = {}) {
    this.keys = opts.keys ?? loadCardKeys();
    // 0 is not run as 1 (`etc-sim rsu --reader-pty --seed 0` was seed 1's run): `random` below
    this.rngState = (opts.seed ?? 1) >>> 0;
    this.sink = typeof opts.ledger === "string" ? fileLedger(opts.ledger) : opts.ledger;
  }

  /** The card with this id, if the store has it. */
  get(cardId: string): SimCard | undefined {
    return this.cards.get(cardId);
  }

  has(cardId: string): boolean {
    return this.cards.has(cardId);
  }

  /** Card ids in the order the cards were created. */
  ids(): string[] {
    return [...this.cards.keys()];
  }

  /**
   * The card a scenario spec (sim/card/card-spec.ts) describes: created on first sight, the existing
   * card (state unchanged) after that.
   */
  fromSpec(spec: unknown, random?: () => Buffer): SimCard {
    const card = createCardFromSpec(spec, this.keys, { random: random ?? this.random() });
    return this.adopt(card);
  }

  /** The card in `state`: created on first sight, the existing card (state unchanged) after that. */
  fromState(state: CardState, random?: () => Buffer): SimCard {
    const id = `${state.file0015.cardNetwork}${state.file0015.cardSerial}`;
    const known = this.cards.get(id);
    if (known) return known;
    return this.adopt(
      new SimCard(
        {
          file0015: encode0015(state.file0015),
          file0019: encode0019(state.file0019),
          balance: state.balance,
          offlineSerial: state.offlineSerial,
        },
        { keys: this.keys, random: random ?? this.random() },
      ),
    );
  }

  /** A PSAM with the store's keys. */
  createPsam(terminalNo: string, opts: { serial?: number; t0?: boolean } = {}): SimPsam {
    return createPsam({ terminalNo, keys: this.keys, ...opts });
  }

  /**
   * The RSU simulator's CardEnvironment (sim/rsu/cards.ts): its cards are the store's, so a card read
   * over DSRC is the same card the booth reads.
   */
  environment(): {
    createCard(spec: CardState, random: () => Buffer): SimCard;
    createPsam(terminalNo: string): SimPsam;
  } {
    return {
      createCard: (spec, random) => this.fromState(spec, random),
      createPsam: (terminalNo) => this.createPsam(terminalNo),
    };
  }

  /** Append to the shared ledger; `seq` is the entry's place in it, whichever path wrote it. */
  record(entry: Omit<LedgerEntry, "seq"> & { path: DebitPath }): LedgerEntry {
    const e: LedgerEntry = { ...entry, seq: this.entries.length + 1 };
    this.entries.push(e);
    this.sink?.append(e);
    return e;
  }

  /** A LedgerSink for one path (the RSU simulator's `ledger` option): entries renumbered, `path` set. */
  ledgerSink(path: DebitPath): LedgerSink {
    return {
      append: (entry) => {
        const { seq: _seq, ...rest } = entry;
        this.record({ ...rest, path });
      },
      close: () => {},
    };
  }

  /** A booth debit, as the card committed it, into the shared ledger. */
  recordBoothDebit(commit: CardCommit, ctx: BoothDebitContext): LedgerEntry {
    const card = this.cards.get(commit.cardId);
    const f15 = card?.snapshot().file0015;
    const f19 = commit.file0019 ? decode0019(commit.file0019) : card?.snapshot().file0019;
    return this.record({
      path: "booth",
      vehicleId: ctx.vehicleId ?? "",
      obuId: "",
      obuSerial: "",
      plate: f15?.plate ?? "",
      cardId: commit.cardId,
      issuerId: f15?.issuerId ?? "",
      cardNetwork: f15?.cardNetwork ?? "",
      cardSerial: f15?.cardSerial ?? "",
      cardType: f15?.cardType ?? 0,
      amount: commit.amount,
      tac: commit.tac,
      mac2: commit.mac2,
      iccPaySerial: commit.offlineSerial,
      psamNo: commit.terminalNo,
      psamTransSerial: commit.terminalSerial,
      transTime: commit.transTime,
      transType: commit.transType,
      keyVersion: commit.keyVersion,
      algId: commit.algId,
      balanceBefore: commit.balanceBefore,
      balanceAfter: commit.balanceAfter,
      command: "DEBIT",
      outcome: ctx.outcome,
      station: {
        network: f19?.network ?? "",
        station: f19?.station ?? "",
        lane: f19?.lane ?? 0,
        status: f19?.status ?? 0,
      },
    });
  }

  /** Every ledger entry so far, both paths, in order. */
  ledger(): LedgerEntry[] {
    return [...this.entries];
  }

  /** Flush and release the ledger file; idempotent. */
  close(): void {
    this.sink?.close();
  }

  private adopt(card: SimCard): SimCard {
    const known = this.cards.get(card.cardId);
    if (known) return known;
    this.cards.set(card.cardId, card);
    return card;
  }

  /**
   * A seeded 4-byte source (xorshift32) per card, so seeded runs repeat. xorshift32 cannot run from 0: the
   * first card of seed 0 starts from ZERO_SEED_STATE (0x9e3779b9), so it draws what the first card of seed
   * 2654435769 (0x9e3779b9) draws; seed 0's next cards follow the sequence after 0, unlike that seed's and
   * seed 1's. Every other seed runs as before.
   */
  private random(): () => Buffer {
    let s = this.rngState || ZERO_SEED_STATE;
    this.rngState = (Math.imul(this.rngState, 1_664_525) + 1_013_904_223) >>> 0 || 1;
    return () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      const b = Buffer.alloc(4);
      b.writeUInt32BE(s);
      return b;
    };
  }
}
