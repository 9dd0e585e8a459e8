/**
 * A frame read under the wrong layout setting is not traded on (docs/protocol.md §2, "A frame longer or
 * shorter than its declaration"). When an RSU frame carries bytes after its declared fields (`extra`), or
 * decodes without its last declared fields, and one dialect setting would make it fit exactly
 * (firmware-bridge/frames/dialect-fit.ts: B2 with AntennaID under `b2AntennaId: false`, or without it under
 * `b2AntennaId: true`; the 274-byte B4 under `b4Ef04: false`, ...), every field after the one that setting
 * adds was read from the wrong bytes, or from the right ones: the frame does not say which. So the event
 * is decoded under both readings and each value that differs between them is unknown, null in the event
 * (a B2 without its issuer and contract serial is stopped OBU_DATA_INVALID, a B4 without its 0015/0019 is
 * an incomplete read, src/lane/obu-machine.ts); a value both readings agree on is kept. The link has
 * already warned naming the setting (firmware-bridge/link/frame-channel.ts).
 */
import { decodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { dialectsFitting, dialectsFittingShorter } from "../../firmware-bridge/frames/dialect-fit.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import type { RsuCodec, RsuEvent } from "./driver.js";

/** Fields every RSU event's info has before any layout setting applies; never nullable. */
const FIXED = new Set(["obuId", "errorCode", "result"]);

/** `codec` for `dialect`, whose events carry no value a one-setting layout mismatch could have shifted. */
export function withLayoutCheck(codec: RsuCodec, codecFor: (d: Dialect) => RsuCodec): RsuCodec {
  return {
    dialect: codec.dialect,
    encode: (cmd) => codec.encode(cmd),
    decode(frame: Frame, wire: WireFrame): RsuEvent | undefined {
      const ev = codec.decode(frame, wire);
      if (ev === undefined || !("info" in ev) || frame.type === "ACK") return ev;
      const fits =
        frame.extra !== undefined
          ? dialectsFitting(wire.data, codec.dialect)
          : dialectsFittingShorter(wire.data, codec.dialect, { ok: true, frame });
      if (fits.length === 0) return ev;
      const info: Record<string, unknown> = { ...ev.info };
      for (const fit of fits) {
        const alt = decodeData(wire.data, fit.dialect);
        const other = alt.ok ? codecFor(fit.dialect).decode(alt.frame, wire) : undefined;
        if (other?.kind !== ev.kind || !("info" in other)) {
          throw new Error(
            `${frame.type} read with ${fit.setting}: ${String(fit.value)} is another event (${other?.kind ?? "none"}): not understood`,
          );
        }
        const otherInfo = other.info as unknown as Record<string, unknown>;
        for (const key of Object.keys(info)) {
          if (JSON.stringify(info[key]) === JSON.stringify(otherInfo[key])) continue;
          if (FIXED.has(key)) {
            throw new Error(
              `${frame.type} read with ${fit.setting}: ${String(fit.value)} has another ${key}: not understood`,
            );
          }
          info[key] = null;
        }
      }
      return { ...ev, info } as unknown as RsuEvent;
    },
  };
}
