/**
 * The capture file format: pcapng (the format Wireshark and tshark read natively) with one interface
 * per serial port and link type LINKTYPE_RTAC_SERIAL (250). Each chunk of bytes is one Enhanced Packet
 * Block whose data is the 12-byte RTAC serial header (timestamp, event type, control lines, footer)
 * followed by the bytes as they crossed the port. docs/capture.md explains the choice and the layout.
 *
 * Written little-endian; read in either byte order (a file rewritten by editcap stays readable).
 */
import { readSync } from "node:fs";

export const LINKTYPE_RTAC_SERIAL = 250;

/** RTAC serial event types (the ones a capture uses). */
export const RTAC_EVENT = {
  /** a port state change (open, closed, disconnected): no payload, the state in the block comment */
  statusChange: 0x00,
  /** bytes the capturing side wrote */
  dataTx: 0x01,
  /** bytes the capturing side read */
  dataRx: 0x02,
} as const;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_EPB = 0x00000006;
/** the obsolete Packet Block: an EPB with a 16-bit interface id and a 16-bit drops count */
const BLOCK_PB = 0x00000002;
/** the Simple Packet Block: original length and data only (no interface id, timestamp or options) */
const BLOCK_SPB = 0x00000003;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;
const FLAG_INBOUND = 1;
const FLAG_OUTBOUND = 2;
const RTAC_HEADER = 12;

const pad4 = (n: number): number => (n + 3) & ~3;

function options(opts: { code: number; value: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const o of opts) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(o.code, 0);
    head.writeUInt16LE(o.value.length, 2);
    parts.push(head, o.value, Buffer.alloc(pad4(o.value.length) - o.value.length));
  }
  if (parts.length > 0) parts.push(Buffer.alloc(4)); // opt_endofopt
  return Buffer.concat(parts);
}

function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  out.writeUInt32LE(total, total - 4);
  return out;
}

/**
 * The comment naming the run that wrote a section header and each interface description after it (one
 * start of a capture writer, ./capture-writer.ts): `capture run: <prefix>-r<run>-<start>`, the names of
 * the run's files up to their file number. The files of a run say it whatever they are renamed to, and a
 * file holding several runs (sections one after another, or interfaces merged into one section) says
 * which run each record belongs to (./read-capture.ts).
 */
export const runComment = (run: string): string => `capture run: ${run}`;

/** The run a block's comments name (see runComment), if one does. */
export function runOfComments(comments: readonly string[]): string | undefined {
  for (const c of comments) {
    const m = /^capture run: (\S+)$/.exec(c);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Section Header Block: starts every capture file (and every section of a file that holds several). Each
 * comment is an `opt_comment` of its own (pcapng lets a block repeat it; Wireshark shows each).
 */
export function sectionHeader(application: string, comments: string[]): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  fixed.writeUInt16LE(1, 4); // major
  fixed.writeUInt16LE(0, 6); // minor
  fixed.writeBigInt64LE(-1n, 8); // section length not given
  return block(
    BLOCK_SHB,
    Buffer.concat([
      fixed,
      options([
        { code: SHB_USERAPPL, value: Buffer.from(application) },
        ...comments.map((c) => ({ code: OPT_COMMENT, value: Buffer.from(c) })),
      ]),
    ]),
  );
}

/** Interface Description Block: one per port; timestamps in microseconds; each comment an `opt_comment`. */
export function interfaceDescription(name: string, description: string, comments: string[] = []): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE_RTAC_SERIAL, 0);
  fixed.writeUInt16LE(0, 2);
  fixed.writeUInt32LE(0, 4); // snaplen: no limit
  return block(
    BLOCK_IDB,
    Buffer.concat([
      fixed,
      options([
        { code: IF_NAME, value: Buffer.from(name) },
        { code: IF_DESCRIPTION, value: Buffer.from(description) },
        { code: IF_TSRESOL, value: Buffer.from([6]) },
        ...comments.map((c) => ({ code: OPT_COMMENT, value: Buffer.from(c) })),
      ]),
    ]),
  );
}

/** Enhanced Packet Block: one chunk on interface `iface` at `us` microseconds since the epoch. */
export function packet(iface: number, us: bigint, event: number, bytes: Buffer, comment?: string): Buffer {
  const data = Buffer.alloc(RTAC_HEADER + bytes.length);
  const seconds = us / 1_000_000n;
  data.writeUInt32BE(Number(seconds & 0xffffffffn), 0);
  data.writeUInt32BE(Number(us - seconds * 1_000_000n), 4);
  data[8] = event;
  data[9] = 0; // control lines: not known on a pty or a plain UART driver
  data.writeUInt16BE(0, 10);
  bytes.copy(data, RTAC_HEADER);
  const fixed = Buffer.alloc(20);
  fixed.writeUInt32LE(iface, 0);
  fixed.writeUInt32LE(Number(us >> 32n), 4);
  fixed.writeUInt32LE(Number(us & 0xffffffffn), 8);
  fixed.writeUInt32LE(data.length, 12);
  fixed.writeUInt32LE(data.length, 16);
  const flags = Buffer.alloc(4);
  if (event !== RTAC_EVENT.statusChange)
    flags.writeUInt32LE(event === RTAC_EVENT.dataRx ? FLAG_INBOUND : FLAG_OUTBOUND, 0);
  const opts = [
    ...(event !== RTAC_EVENT.statusChange ? [{ code: EPB_FLAGS, value: flags }] : []),
    ...(comment ? [{ code: OPT_COMMENT, value: Buffer.from(comment) }] : []),
  ];
  return block(
    BLOCK_EPB,
    Buffer.concat([fixed, data, Buffer.alloc(pad4(data.length) - data.length), options(opts)]),
  );
}

// ---- reading ---------------------------------------------------------------------------------

export interface CaptureInterface {
  /** index within its section */
  readonly id: number;
  /** its section: an index into `ParsedCapture.sections` */
  readonly section: number;
  readonly linkType: number;
  readonly name: string;
  readonly description: string;
  /** its comments (`opt_comment`), in the order written */
  readonly comments: string[];
}

export interface CapturePacket {
  readonly iface: CaptureInterface;
  /** microseconds since the epoch */
  readonly us: bigint;
  /** RTAC event type (0x01 written, 0x02 read, 0x00 state change); undefined for other link types */
  readonly event: number | undefined;
  /** the bytes that crossed the port (RTAC header removed) */
  readonly bytes: Buffer;
  readonly comment?: string;
  /** where the packet's block starts in the file */
  readonly offset: number;
  /**
   * when the packet's captured length is below its original length (a capture cut to a snap length,
   * `editcap -s`): how many bytes crossed the port, of which `bytes` holds only the first ones
   */
  readonly cutFrom?: number;
}

/** A block that could not be read; the blocks after it were. */
export interface SkippedBlock {
  /** where the block starts in the file */
  readonly offset: number;
  readonly why: string;
}

/** One section of the file: a section header and the blocks after it, up to the next one. */
export interface CaptureSection {
  /** where its section header starts in the file */
  readonly offset: number;
  /** its `shb_userappl`, "" when it has none */
  readonly application: string;
  /** its comments (`opt_comment`, which may be repeated), in the order written */
  readonly comments: string[];
}

export interface ParsedCapture {
  /** the last section's `shb_userappl` (the last one that had it) */
  readonly application: string;
  /** the file's sections, in file order (one for a file a capture writer wrote) */
  readonly sections: CaptureSection[];
  readonly interfaces: CaptureInterface[];
  readonly packets: CapturePacket[];
  /** blocks whose length was sound but whose content was not, each skipped */
  readonly skipped: SkippedBlock[];
  /**
   * why reading stopped early, naming the byte offset, if it did: a last block cut short (the process
   * died while writing), or a block length that cannot be right, so no later block can be found
   */
  readonly truncated?: string;
}

/**
 * The latest timestamp a packet may have: the last microsecond of the year 9999, in µs since the epoch; a
 * later one is damage. Far below the largest time a JavaScript Date holds (the year 275760), so a time
 * computed from a packet's is still a date: its half frame's expiry (src/rsu/analyse-capture.ts) is at most
 * an inter-byte timeout after it, and a port's description is believed only for a timeout of 1..5000 ms
 * (./read-capture.ts describePort).
 */
const MAX_US = 253_402_300_799_999_999n;

/** Where the blocks of a capture are read from: a buffer, or a file read a block of bytes at a time. */
export interface ByteSource {
  readonly size: number;
  /** the `length` bytes at `offset` (`offset + length <= size`); valid until the next call */
  bytes(offset: number, length: number): Buffer;
}

export function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, bytes: (offset, length) => buf.subarray(offset, offset + length) };
}

/** How many bytes a file source reads at a time (a block longer than that is read whole). */
export const FILE_CHUNK_BYTES = 1 << 20;

/**
 * A file read through one buffer of `chunk` bytes (or of the longest block asked for): memory does not
 * grow with the file, and files of 2 GiB and more are read (readFileSync stops at 2 GiB).
 */
export function fileSource(fd: number, size: number, chunk = FILE_CHUNK_BYTES): ByteSource {
  let window = Buffer.alloc(0);
  let start = 0;
  let filled = 0;
  return {
    size,
    bytes(offset, length) {
      if (offset >= start && offset + length <= start + filled)
        return window.subarray(offset - start, offset - start + length);
      const want = Math.min(Math.max(chunk, length), size - offset);
      if (window.length < want) window = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, window, got, want - got, offset + got);
        if (n === 0) throw new Error(`the file ended at byte ${offset + got}, before its ${size} bytes`);
        got += n;
      }
      start = offset;
      filled = got;
      return window.subarray(0, length);
    },
  };
}

/** The options of a block: the first of each code, and in `all` every one of each code (some repeat). */
function readOptions(
  buf: Buffer,
  from: number,
  to: number,
  le: boolean,
): Map<number, Buffer> & { all: Map<number, Buffer[]> } {
  const out = Object.assign(new Map<number, Buffer>(), { all: new Map<number, Buffer[]>() });
  let o = from;
  while (o + 4 <= to) {
    const code = le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
    const len = le ? buf.readUInt16LE(o + 2) : buf.readUInt16BE(o + 2);
    if (code === OPT_END) break;
    if (o + 4 + len > to) break;
    const value = buf.subarray(o + 4, o + 4 + len);
    if (!out.has(code)) out.set(code, value);
    out.all.set(code, [...(out.all.get(code) ?? []), value]);
    o += 4 + pad4(len);
  }
  return out;
}

/**
 * Why a file that does not start with a whole section header is still taken for a capture file that was
 * cut short, not for another format: it is empty, it ends inside the header (every byte it has is the
 * section header's type), or it holds only zero bytes (a crash after its size, not its data, reached the
 * disk). Undefined for anything else.
 */
function cutBeforeItsHeader(src: ByteSource): string | undefined {
  const size = src.size;
  if (size === 0) return "the file is empty (cut before its section header was written)";
  const type = Buffer.alloc(4);
  type.writeUInt32LE(BLOCK_SHB, 0);
  const n = Math.min(4, size);
  if (size < 12 && src.bytes(0, n).equals(type.subarray(0, n)))
    return `the file ends inside its section header (${size} byte(s))`;
  for (let o = 0; o < size; o += FILE_CHUNK_BYTES) {
    const len = Math.min(FILE_CHUNK_BYTES, size - o);
    if (!src.bytes(o, len).every((b) => b === 0)) return undefined;
  }
  return `the file holds only zero bytes (${size}): what was written to it never reached the disk`;
}

/** What a scan knows at a block: what it needs to read the blocks from there (scanPcapng `from`). */
export interface ScanState {
  readonly le: boolean;
  /** the sections before, less one: the index of the current one */
  readonly section: number;
  readonly interfaces: readonly CaptureInterface[];
  readonly tsUnits: readonly bigint[];
  /** each interface's snap length (0: no limit): a Simple Packet Block's data is cut to interface 0's */
  readonly snapLengths: readonly number[];
}

/** One thing a scan found, in file order; `truncated` comes last when it comes. */
export type ScanItem =
  | { readonly kind: "section"; readonly section: CaptureSection }
  | { readonly kind: "interface"; readonly iface: CaptureInterface }
  | { readonly kind: "packet"; readonly packet: CapturePacket; readonly state: () => ScanState }
  | { readonly kind: "skipped"; readonly block: SkippedBlock }
  | { readonly kind: "truncated"; readonly why: string };

/**
 * The blocks of a pcapng capture, one at a time, in file order (parsePcapng says what each block gives).
 * Packets come from Enhanced Packet Blocks, obsolete Packet Blocks (a 16-bit interface id) and Simple Packet
 * Blocks in a section of one interface (timed by their RTAC header); other block types hold no packet.
 * Throws when the file is not pcapng at all. From the start of the source, or from a block `from.offset`
 * with the state a scan had there (a packet's `state()`), up to `from.end` (a block offset).
 */
export function* scanPcapng(
  src: ByteSource,
  from?: { offset: number; state: ScanState; end?: number },
): Generator<ScanItem> {
  const size = src.size;
  if (from === undefined) {
    const cut = cutBeforeItsHeader(src);
    if (cut !== undefined) {
      yield { kind: "truncated", why: cut };
      return;
    }
    const start = src.bytes(0, Math.min(12, size));
    if (size < 12 || start.readUInt32LE(0) !== BLOCK_SHB) {
      throw new Error("not a pcapng capture (no section header block at the start)");
    }
    if (start.readUInt32LE(8) !== BYTE_ORDER_MAGIC && start.readUInt32BE(8) !== BYTE_ORDER_MAGIC) {
      throw new Error("bad pcapng byte-order magic");
    }
  }
  let le = from?.state.le ?? true;
  let section = from?.state.section ?? -1;
  let interfaces: CaptureInterface[] = [...(from?.state.interfaces ?? [])];
  const tsUnits: bigint[] = [...(from?.state.tsUnits ?? [])];
  const snapLengths: number[] = [...(from?.state.snapLengths ?? [])];
  const state = (): ScanState => ({
    le,
    section,
    interfaces: [...interfaces],
    tsUnits: [...tsUnits],
    snapLengths: [...snapLengths],
  });
  let o = from?.offset ?? 0;
  const end = Math.min(from?.end ?? size, size);
  while (o < end) {
    if (o + 12 > size) {
      yield { kind: "truncated", why: `${size - o} byte(s) after the last whole block, at byte ${o}` };
      return;
    }
    const h = src.bytes(o, 12);
    const type = h.readUInt32LE(0);
    // A section header says its byte order; a damaged one leaves the order of its own length unknown.
    let order: boolean = le;
    if (type === BLOCK_SHB) {
      if (h.readUInt32LE(8) === BYTE_ORDER_MAGIC) order = true;
      else if (h.readUInt32BE(8) === BYTE_ORDER_MAGIC) order = false;
    }
    const total = order ? h.readUInt32LE(4) : h.readUInt32BE(4);
    if (total < 12 || total % 4 !== 0) {
      yield {
        kind: "truncated",
        why: `the block at byte ${o} gives its length as ${total}, which no block has: the ${size - o} byte(s) from there are not read`,
      };
      return;
    }
    if (o + total > size) {
      yield { kind: "truncated", why: `a block at byte ${o} is cut short (${size - o} of ${total} bytes)` };
      return;
    }
    // its length at its end first: a length that lies is not read as a block of that size
    const end = src.bytes(o + total - 4, 4);
    const trailer = order ? end.readUInt32LE(0) : end.readUInt32BE(0);
    if (trailer !== total) {
      yield {
        kind: "truncated",
        why: `the block at byte ${o} gives its length as ${total} at its start and ${trailer} at its end: the ${size - o} byte(s) from there are not read`,
      };
      return;
    }
    const buf = src.bytes(o, total);
    const at = o;
    o += total;
    const skip = (why: string): ScanItem => ({ kind: "skipped", block: { offset: at, why } });
    const btype = order ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
    const body = 8;
    const blockEnd = total - 4;
    if (type === BLOCK_SHB) {
      const magic = buf.readUInt32LE(body);
      if (magic !== BYTE_ORDER_MAGIC && buf.readUInt32BE(body) !== BYTE_ORDER_MAGIC) {
        // Its interfaces follow it: they are numbered from 0 again, in the byte order we had.
        yield skip(`section header with a bad byte-order magic (${magic.toString(16).padStart(8, "0")})`);
        // a section of its own, whose header says nothing
        section++;
        yield { kind: "section", section: { offset: at, application: "", comments: [] } };
        interfaces = [];
        tsUnits.length = 0;
        snapLengths.length = 0;
        continue;
      }
      if (body + 16 > blockEnd) {
        yield skip(`section header of ${total} bytes, too short`);
        continue;
      }
      le = order;
      interfaces = [];
      tsUnits.length = 0;
      snapLengths.length = 0;
      const opts = readOptions(buf, body + 16, blockEnd, le);
      section++;
      yield {
        kind: "section",
        section: {
          offset: at,
          application: opts.get(SHB_USERAPPL)?.toString() ?? "",
          comments: (opts.all.get(OPT_COMMENT) ?? []).map((c) => c.toString()),
        },
      };
    } else if (btype === BLOCK_IDB) {
      if (body + 8 > blockEnd) {
        yield skip(`interface description of ${total} bytes, too short`);
        continue;
      }
      const linkType = le ? buf.readUInt16LE(body) : buf.readUInt16BE(body);
      const opts = readOptions(buf, body + 8, blockEnd, le);
      const res = opts.get(IF_TSRESOL)?.[0] ?? 6;
      // units per second: 10^res, or 2^res when the high bit is set
      tsUnits.push(res & 0x80 ? 1n << BigInt(res & 0x7f) : 10n ** BigInt(res));
      snapLengths.push(le ? buf.readUInt32LE(body + 4) : buf.readUInt32BE(body + 4));
      const iface: CaptureInterface = {
        id: interfaces.length,
        section,
        linkType,
        name: opts.get(IF_NAME)?.toString() ?? `if${interfaces.length}`,
        description: opts.get(IF_DESCRIPTION)?.toString() ?? "",
        comments: (opts.all.get(OPT_COMMENT) ?? []).map((c) => c.toString()),
      };
      interfaces.push(iface);
      yield { kind: "interface", iface };
    } else if (btype === BLOCK_SPB) {
      // No interface id: the spec has it captured on the section's first interface, and no Simple Packet
      // Block in a section of several (it could not say which); no timestamp: the RTAC header's is used.
      const r32 = (pos: number): number => (le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos));
      if (body + 4 > blockEnd) {
        yield skip(`simple packet block of ${total} bytes, too short`);
        continue;
      }
      const iface = interfaces[0];
      if (interfaces.length !== 1 || iface === undefined) {
        yield skip(
          interfaces.length === 0
            ? "simple packet block before any interface description: the port it crossed is not known"
            : `simple packet block in a section of ${interfaces.length} interfaces: the port it crossed is not known (it names no interface)`,
        );
        continue;
      }
      const origLen = r32(body);
      const snap = snapLengths[0] ?? 0;
      // its data is as long as the original packet, or the snap length if shorter (the pcapng spec's SPB); a
      // block with less room is damaged, and what it holds past its data is padding
      const capLen = Math.min(origLen, snap === 0 ? origLen : snap);
      if (capLen > blockEnd - (body + 4)) {
        yield skip(`simple packet block data of ${capLen} bytes runs past its ${total}-byte block`);
        continue;
      }
      const data = buf.subarray(body + 4, body + 4 + capLen);
      if (iface.linkType !== LINKTYPE_RTAC_SERIAL || data.length < RTAC_HEADER) {
        yield skip(
          iface.linkType !== LINKTYPE_RTAC_SERIAL
            ? `simple packet block on interface "${iface.name}" of link type ${iface.linkType}: it has no timestamp (only an RTAC serial header gives one)`
            : `simple packet block of ${data.length} byte(s), shorter than the 12-byte RTAC serial header that would give its timestamp`,
        );
        continue;
      }
      const micros = data.readUInt32BE(4);
      if (micros >= 1_000_000) {
        yield skip(
          `simple packet block whose RTAC header gives ${micros} microseconds (below 1000000 in a second)`,
        );
        continue;
      }
      yield {
        kind: "packet",
        packet: {
          iface,
          us: BigInt(data.readUInt32BE(0)) * 1_000_000n + BigInt(micros),
          event: data[8],
          bytes: Buffer.from(data.subarray(RTAC_HEADER)),
          offset: at,
          ...(capLen < origLen ? { cutFrom: origLen - RTAC_HEADER } : {}),
        },
        state,
      };
    } else if (btype === BLOCK_EPB || btype === BLOCK_PB) {
      const r32 = (pos: number): number => (le ? buf.readUInt32LE(pos) : buf.readUInt32BE(pos));
      if (body + 20 > blockEnd) {
        yield skip(`packet block of ${total} bytes, too short`);
        continue;
      }
      // the obsolete Packet Block: a 16-bit interface id, then a 16-bit drops count; the rest as an EPB's
      const ifaceId = btype === BLOCK_PB ? (le ? buf.readUInt16LE(body) : buf.readUInt16BE(body)) : r32(body);
      const iface = interfaces[ifaceId];
      const units = tsUnits[ifaceId];
      if (!iface || units === undefined) {
        yield skip(
          `packet on interface ${ifaceId}, which the section does not describe (${interfaces.length} interface(s))`,
        );
        continue;
      }
      const ts = (BigInt(r32(body + 4)) << 32n) | BigInt(r32(body + 8));
      const us = (ts * 1_000_000n) / units;
      if (us > MAX_US) {
        yield skip(
          `packet timestamp ${ts} (${units} per second) is past the end of the year 9999, past any date a capture holds`,
        );
        continue;
      }
      const capLen = r32(body + 12);
      if (capLen > blockEnd - (body + 20)) {
        yield skip(`packet captured length ${capLen} runs past its ${total}-byte block`);
        continue;
      }
      const origLen = r32(body + 16);
      const data = buf.subarray(body + 20, body + 20 + capLen);
      const opts = readOptions(buf, body + 20 + pad4(capLen), blockEnd, le);
      const rtac = iface.linkType === LINKTYPE_RTAC_SERIAL && data.length >= RTAC_HEADER;
      const comment = opts.get(OPT_COMMENT)?.toString();
      const header = rtac ? RTAC_HEADER : 0;
      yield {
        kind: "packet",
        packet: {
          iface,
          us,
          event: rtac ? data[8] : undefined,
          bytes: Buffer.from(data.subarray(header)),
          ...(comment !== undefined ? { comment } : {}),
          offset: at,
          ...(capLen < origLen ? { cutFrom: origLen - header } : {}),
        },
        state,
      };
    }
  }
}

/**
 * Parses a pcapng capture held in memory (scanPcapng reads one block at a time). Throws when the file is
 * not pcapng at all. A file cut before its section
 * header was whole (empty, ended inside the header, or only zero bytes) is returned with nothing in it
 * and `truncated` saying so. A block whose length is sound but
 * whose content is not (a captured length past the block, an undeclared interface, a timestamp past the
 * end of the year 9999, a Simple Packet Block in a section of several interfaces or without an RTAC header to time it,
 * a section header with a bad byte-order magic after the first) is skipped and listed in
 * `skipped`; reading goes on with the next block. A block length that cannot be right (below 12, not a
 * multiple of 4, not repeated at the block's end, or past the end of the file) stops the reading there:
 * `truncated` says where and why, and every block before it is returned. A packet whose captured length
 * is below its original length has `cutFrom`.
 */
export function parsePcapng(buf: Buffer): ParsedCapture {
  let application = "";
  const sections: CaptureSection[] = [];
  const interfaces: CaptureInterface[] = [];
  const packets: CapturePacket[] = [];
  const skipped: SkippedBlock[] = [];
  let truncated: string | undefined;
  for (const item of scanPcapng(bufferSource(buf))) {
    if (item.kind === "section") {
      sections.push(item.section);
      // the last section's application, the last one that had it (a damaged header says none)
      if (item.section.application !== "" || item.section.comments.length > 0)
        application = item.section.application || application;
    } else if (item.kind === "interface") interfaces.push(item.iface);
    else if (item.kind === "packet") packets.push(item.packet);
    else if (item.kind === "skipped") skipped.push(item.block);
    else truncated = item.why;
  }
  return { application, sections, interfaces, packets, skipped, ...(truncated ? { truncated } : {}) };
}
