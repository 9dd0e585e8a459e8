/**
 * Who answers an RSU frame, per frame type: the one table the lane-side link (firmware-bridge/link/
 * answer-cache.ts) follows, next to the frame declarations it must agree with. test/link/
 * answer-policy.test.ts checks it against the catalogue: the link may answer a frame by itself only
 * with a reply the frame's declaration lists (`replies`). docs/link.md "Automatic answers" explains it.
 *
 * Rules:
 *  - "ack-when-late": the declaration allows an empty acknowledgement (B0: C1 or ACK). If the
 *    application has not answered by `answerDeadlineMs`, the link writes an empty ACK itself.
 *  - "command": an information frame only the application answers, with the command it chooses (C1, C2,
 *    C6, C8...), or for a late B5/B8 an empty ACK it sends itself (both declared among the frame's
 *    `replies`; the lane leaves a frame its transaction does not wait for unanswered, docs/protocol.md
 *    §5). The link never answers it. A missed deadline is counted as a late answer and
 *    logged; the RSU's repeats meanwhile are absorbed; the application's reply, whenever it comes,
 *    goes out once and is cached for later repeats.
 *  - "heartbeat-cf": a heartbeat the link answers at once with CF status 0 (national B1, when the
 *    link's `answerHeartbeat` option is on). It is not retransmitted, so it has no deadline.
 *
 * A legacy heartbeat (B2 with OBUID 0 and ErrorCode 0x80/0x08) is never answered, whatever B2's rule.
 * A type missing from the table is treated as "command": the link never sends an answer that the
 * frame's declaration might not allow.
 */
import type { Variant } from "../framing/types.js";

export type AnswerRule = "ack-when-late" | "command" | "heartbeat-cf";

export const ANSWER_RULES: { readonly [V in Variant]: Readonly<Record<string, AnswerRule>> } = {
  legacy: {
    B0: "ack-when-late",
    B2: "command",
    B3: "command",
    B4: "command",
    B5: "command",
    B8: "command",
  },
  national: {
    B0: "ack-when-late",
    B1: "heartbeat-cf",
    B2: "command",
    B3: "command",
    B4: "command",
    B5: "command",
    B8: "command",
  },
};

/**
 * A well-framed legacy RSU frame (good BCC) whose type the catalogue does not declare (the references'
 * dialect-specific B1, B6, B7, B9): the link answers it with an empty acknowledgement at once, as the
 * legacy reference has the lane answer every RSU frame, at least with an empty acknowledgement (an
 * unanswered one is repeated 3 times, docs/protocol.md §5). Only type codes Bx, the RSU's frames in the
 * legacy reference; a national frame of an undeclared type gets nothing.
 */
export function acksUndeclared(code: number, variant: Variant): boolean {
  return variant === "legacy" && (code & 0xf0) === 0xb0;
}

/** The rule for one RSU frame type ("command" when the table does not name it). */
export function answerRule(type: string, variant: Variant): AnswerRule {
  const rules = ANSWER_RULES[variant];
  return Object.hasOwn(rules, type) ? (rules[type] as AnswerRule) : "command";
}
