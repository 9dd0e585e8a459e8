/**
 * The lane controller on the fakes of the controller tests (test/lane/controller-fakes.ts) with the lane's
 * own codec (src/rsu/driver-codec.ts) on real national frames: the RSU's frames are encoded, deframed and
 * decoded as the link does; the lane's commands stay readable ({ type: "CMD", cmd }).
 */
import { decodeData } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { encodeNational, NationalDeframer } from "../../firmware-bridge/framing/national.js";
import type { RsuCodec, RsuCommand } from "../../src/rsu/driver.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";
import { passCodec, type Rig } from "../lane/controller-fakes.js";

/** `dataHex` as a national wire frame, and its decode under `d`. */
export function national(dataHex: string, d: Dialect) {
  const ev = new NationalDeframer().push(
    encodeNational(0x02, Buffer.from(dataHex.replace(/\s/g, ""), "hex")),
    0,
  )[0];
  if (ev?.kind !== "frame") throw new Error("the test frame did not deframe");
  const decoded = decodeData(ev.frame.data, d);
  if (!decoded.ok) throw decoded.error;
  return { frame: decoded.frame, wire: ev.frame };
}

/** The lane's codec for `d` on real frames; the fakes' pass-through for theirs and for commands. */
export function laneCodec(d: Dialect): RsuCodec {
  const lane = createRsuCodec(d);
  return {
    dialect: lane.dialect,
    encode: passCodec.encode,
    decode: (f, w) => ((f.type as string) === "EV" ? passCodec.decode(f, w) : lane.decode(f, w)),
  };
}

/** The RSU sends `dataHex` as a national frame, decoded as the link decodes it (under `d`); the lane's replies. */
export function rsuSends(r: Rig, dataHex: string, d: Dialect): RsuCommand[] {
  const { frame, wire } = national(dataHex, d);
  const replies: RsuCommand[] = [];
  r.link.incoming$.next({
    frame,
    wire,
    at: Date.now(),
    answered: false,
    reply: async (f) => {
      replies.push((f as unknown as { cmd: RsuCommand }).cmd);
      return { at: Date.now() };
    },
    ack: async () => ({ at: Date.now() }),
  });
  return replies;
}
