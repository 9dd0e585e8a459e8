/** How a frame type is declared: opcode, direction, fields, and what it expects in reply. */
import type { AnyField, ValuesOf } from "./fields.js";

export type Direction = "lane-to-rsu" | "rsu-to-lane";

export interface FrameDef<T extends string = string, F extends readonly AnyField[] = readonly AnyField[]> {
  readonly type: T;
  readonly code: number;
  readonly direction: Direction;
  readonly title: string;
  readonly fields: F;
  /**
   * For an RSU information frame: every lane frame that may answer it ("ACK": the empty acknowledgement).
   * Which one, and when a frame gets none at all (a heartbeat, a frame the OBU's transaction does not
   * wait for), is the lane's decision: docs/protocol.md §5. The link answers by itself only with one of
   * these (./answer-policy.ts). For a lane command: the RSU frames it elicits, if any.
   */
  readonly replies: readonly string[];
  /** An RSU information frame that the RSU retransmits until it is answered. */
  readonly informational?: boolean;
  /**
   * A heartbeat whatever its body (the national B1): only its arrival matters to the lane
   * (docs/protocol.md §3), so a good envelope of this type whose body does not fit the declaration is
   * still a heartbeat, taken with what could be decoded (firmware-bridge/link/frame-channel.ts
   * `misfitHeartbeats$`), not an undecodable frame.
   */
  readonly heartbeat?: boolean;
}

export function defineFrame<const T extends string, const F extends readonly AnyField[]>(
  def: FrameDef<T, F>,
): FrameDef<T, F> {
  return def;
}

/** The decoded value of a frame: its type, its fields, and any trailing bytes a dialect appended. */
export type FrameValue<D> =
  D extends FrameDef<infer T, infer F> ? { type: T } & ValuesOf<F> & { extra?: string } : never;
