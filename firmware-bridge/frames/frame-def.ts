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
   * For an RSU information frame: the lane frames that answer it (the lane must answer every one
   * except a heartbeat). For a lane command: the RSU frames it elicits, if any.
   */
  readonly replies: readonly string[];
  /** An RSU information frame that the RSU retransmits until it is answered. */
  readonly informational?: boolean;
}

export function defineFrame<const T extends string, const F extends readonly AnyField[]>(
  def: FrameDef<T, F>,
): FrameDef<T, F> {
  return def;
}

/** The decoded value of a frame: its type, its fields, and any trailing bytes a dialect appended. */
export type FrameValue<D> =
  D extends FrameDef<infer T, infer F> ? { type: T } & ValuesOf<F> & { extra?: string } : never;
