/**
 * A frame read under the wrong layout setting is not traded on (docs/protocol.md §2, "A frame longer or
 * shorter than its declaration"). When an RSU frame carries bytes after its declared fields (`extra`) and
 * another value of one dialect setting reads it with fewer of them left over, none or some
 * (firmware-bridge/frames/dialect-fit.ts: B2 with AntennaID under `b2AntennaId: false`; the 274-byte B4
 * under `b4Ef04: false`, also with trailing bytes after it), or it decodes without its last declared fields
 * and one setting would make it complete (B2 without AntennaID under `b2AntennaId: true`), every field
 * after the one that setting adds was read from the wrong bytes, or from the right ones: the frame does not
 * say which. So the event is decoded under both readings and each value that differs between them is
 * unknown, null in the event (a B2 without its issuer and contract serial is stopped OBU_DATA_INVALID, a
 * B4 without its 0015/0019 is an incomplete read, src/lane/obu-machine.ts); a value both readings agree on
 * is kept. The link has already warned naming the setting (firmware-bridge/link/frame-channel.ts). Which
 * settings compete is worked out once per frame type and length (firmware-bridge/frames/layout-fit-memo.ts),
 * so a frame with surplus costs one more decode per competing setting.
 */
import { decodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { LayoutSetting } from "../../firmware-bridge/frames/dialect-fit.js";
import { LayoutFitMemo } from "../../firmware-bridge/frames/layout-fit-memo.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import type { RsuCodec, RsuEvent } from "./driver.js";

/** Fields every RSU event's info has before any layout setting applies; never nullable. */
const FIXED = new Set(["obuId", "errorCode", "result"]);

/** `codec` for `dialect`, whose events carry no value a one-setting layout mismatch could have shifted. */
export function withLayoutCheck(codec: RsuCodec, codecFor: (d: Dialect) => RsuCodec): RsuCodec {
  const fitsOf = new LayoutFitMemo(codec.dialect);
  const codecs = new Map<LayoutSetting, RsuCodec>();
  const altCodec = (setting: LayoutSetting, d: Dialect): RsuCodec => {
    let c = codecs.get(setting);
    if (c === undefined) {
      c = codecFor(d);
      codecs.set(setting, c);
    }
    return c;
  };
  return {
    dialect: codec.dialect,
    encode: (cmd) => codec.encode(cmd),
    decode(frame: Frame, wire: WireFrame): RsuEvent | undefined {
      const ev = codec.decode(frame, wire);
      if (ev === undefined || !("info" in ev) || frame.type === "ACK") return ev;
      const fits =
        frame.extra !== undefined
          ? fitsOf.longer(wire.data, { ok: true, frame })
          : fitsOf.shorter(wire.data, { ok: true, frame });
      if (fits.length === 0) return ev;
      const info: Record<string, unknown> = { ...ev.info };
      for (const fit of fits) {
        const alt = decodeData(wire.data, fit.dialect);
        const other = alt.ok ? altCodec(fit.setting, fit.dialect).decode(alt.frame, wire) : undefined;
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
