/**
 * The booth's operator actions on the control socket (docs/booth.md §6, docs/maintenance.md):
 * `booth.list` (the queue), `booth.take` (the collector chooses a case, or a walk-up vehicle, and gives a
 * vehicle class when neither the OBU nor the card has one) and `booth.cancel` (a case closed without a
 * card payment). The lane's booth implements `BoothOperator`; `auditedBooth` wraps it as
 * auditedOperator wraps the LaneOperator, so take and cancel each become one audit record
 * (`operator.booth.take`, `operator.booth.cancel`), refused ones too.
 */
import { z } from "zod";
import type { Logger } from "../../../firmware-bridge/log.js";
import type { OperatorResult, OperatorUser } from "../lane-view.js";
import { auditedAction, type OperatorAuditPort } from "../operator-audit.js";
import type { ControlReply } from "./protocol.js";

/** One case as `etc-lane booth list` shows it. */
export interface BoothCaseLine {
  id: string;
  kind: string;
  reason: string;
  /** Chinese, as the booth shows it */
  detail: string;
  /** wall ms */
  openedAt: number;
  /** the same, ISO 8601 in the lane's UTC offset */
  openedAtLocal: string;
  obuId: string | null;
  cardId: string | null;
  plate: string | null;
  seq: number | null;
  status: "active" | "taken" | "waiting";
  vehicleClass: number | null;
}

/** Who asked, as the booth records it (an OperatorUser is one). */
export interface BoothUser {
  name: string;
  uid: number;
}

export interface BoothOperator {
  cases(): BoothCaseLine[];
  take(o: { id?: string; vehicleClass?: number; walkUp?: boolean; user: BoothUser }): Promise<OperatorResult>;
  cancel(o: { id?: string; reason: string; user: BoothUser }): Promise<OperatorResult>;
}

/** Every take and cancel becomes one audit record naming the action, the user and what came of it. */
export function auditedBooth(inner: BoothOperator, audit: OperatorAuditPort, log?: Logger): BoothOperator {
  const act = (
    action: "booth.take" | "booth.cancel",
    user: BoothUser & Partial<Pick<OperatorUser, "pid" | "via">>,
    args: Record<string, unknown>,
    fn: () => Promise<OperatorResult>,
  ): Promise<OperatorResult> =>
    auditedAction(
      audit,
      {
        action,
        verb: action === "booth.take" ? "take a booth case" : "cancel a booth case",
        user,
        args,
        warnAlways: action === "booth.cancel",
      },
      fn,
      log,
    );
  return {
    cases: () => inner.cases(),
    take: (o) => {
      const { user, ...args } = o;
      return act("booth.take", user, args, () => inner.take(o));
    },
    cancel: (o) => {
      const { user, ...args } = o;
      return act("booth.cancel", user, args, () => inner.cancel(o));
    },
  };
}

const caseId = z
  .string()
  .regex(/^[srw]\d{1,12}$/, { error: 'expected a case id as `etc-lane booth list` shows it, e.g. "s42"' });

/**
 * The booth's requests, for the control protocol's union (protocol.ts passes its `user` schema and its
 * operator reason's, OPERATOR_REASON_MAX long at most: one limit for every reason).
 */
export function boothRequestSchemas<U extends z.ZodType, R extends z.ZodType>(user: U, reason: R) {
  return [
    z.strictObject({ v: z.literal(1), action: z.literal("booth.list"), user }),
    z.strictObject({
      v: z.literal(1),
      action: z.literal("booth.take"),
      user,
      id: caseId.optional(),
      // any whole number: the booth refuses one outside JT/T 489's classes, with one message for all
      vehicleClass: z.number().int().optional(),
      walkUp: z.boolean().optional(),
    }),
    z.strictObject({
      v: z.literal(1),
      action: z.literal("booth.cancel"),
      user,
      id: caseId.optional(),
      reason,
    }),
  ] as const;
}

export type BoothRequest =
  | { action: "booth.list" }
  | {
      action: "booth.take";
      id?: string | undefined;
      vehicleClass?: number | undefined;
      walkUp?: boolean | undefined;
    }
  | { action: "booth.cancel"; id?: string | undefined; reason: string };

export const NO_BOOTH = "this lane has no booth (no `reader` section in its config)";

export function isBoothRequest(r: { action: string }): r is BoothRequest {
  return r.action.startsWith("booth.");
}

export async function runBoothAction(
  req: BoothRequest,
  booth: BoothOperator | undefined,
  user: OperatorUser,
): Promise<ControlReply> {
  if (!booth) return { kind: "result", ok: false, message: NO_BOOTH };
  const result = (r: OperatorResult): ControlReply => ({ kind: "result", ...r });
  switch (req.action) {
    case "booth.list": {
      const cases = booth.cases();
      return {
        kind: "result",
        ok: true,
        message: cases.length ? `${cases.length} booth case(s)` : "no booth case is waiting",
        data: { cases },
      };
    }
    case "booth.take":
      return result(
        await booth.take({
          ...(req.id ? { id: req.id } : {}),
          ...(req.vehicleClass !== undefined ? { vehicleClass: req.vehicleClass } : {}),
          ...(req.walkUp ? { walkUp: true } : {}),
          user,
        }),
      );
    case "booth.cancel":
      return result(await booth.cancel({ ...(req.id ? { id: req.id } : {}), reason: req.reason, user }));
  }
}
