/**
 * The control socket's protocol: one connection per request. The client writes one JSON line (the
 * request, at most MAX_REQUEST_LINE bytes: the lane refuses a longer one, and one not in within
 * REQUEST_LINE_TIMEOUT_MS of the connection: server.ts) and keeps its side open; the
 * lane answers with zero or more progress lines and one final line, then ends its side (and destroys the
 * connection ANSWER_GRACE_MS after the answer has left the process, or at UNREAD_ANSWER_MS when it has not
 * left by then, if the client still holds it: server.ts). A client that closes
 * (or half-closes) its side before the lane starts the action has given up: the lane does not run it
 * (server.ts). An answer line can be long (`status` and
 * `booth.list` carry the booth's queue, up to 1000 cases: about 200 KiB); the client reads one of up to
 * MAX_ANSWER_LINE bytes. docs/maintenance.md describes it for anyone scripting against the socket.
 */
import { join } from "node:path";
import { z } from "zod";
import { PROOF_FIELDS, SETTLE_VERDICTS } from "../../lane/operator-settlement.js";
import { boothRequestSchemas } from "./booth-actions.js";

export const CONTROL_SOCKET_FILE = "control.sock";
export const MAX_REQUEST_LINE = 64 * 1024;
export const MAX_ANSWER_LINE = 16 * 1024 * 1024;
/**
 * The longest reason an operator may give (`lane close`, `journal settle`, `booth cancel`): the socket
 * refuses a longer one, and the CLI refuses it before asking either the lane or the data directory
 * (src/cli/operator-call.ts checkReasonLength), so no reason is taken by one path and refused by the other.
 */
export const OPERATOR_REASON_MAX = 500;

/** An operator's reason, as every request that carries one takes it (booth-actions.ts is passed it too). */
const OperatorReason = z.string().min(1).max(OPERATOR_REASON_MAX);

/** The actions that only read (nothing to record when one is not run) */
export const READ_ONLY_ACTIONS: ReadonlySet<string> = new Set(["status", "booth.list"]);
/** sun_path holds 108 bytes on Linux, the terminating NUL included */
export const MAX_SOCKET_PATH = 107;

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET_FILE);
}

export const User = z.strictObject({
  name: z.string().min(1).max(256),
  uid: z.number().int().min(-1),
  pid: z.number().int().min(0),
  /** the login that ran `sudo -u <user> etc-lane ...` (SUDO_USER), when the client ran under sudo */
  sudoUser: z.string().min(1).max(256).optional(),
});

export const ControlRequest = z.discriminatedUnion("action", [
  z.strictObject({ v: z.literal(1), action: z.literal("status"), user: User }),
  z.strictObject({ v: z.literal(1), action: z.literal("lane.open"), user: User }),
  z.strictObject({
    v: z.literal(1),
    action: z.literal("lane.close"),
    user: User,
    reason: OperatorReason,
  }),
  z.strictObject({
    v: z.literal(1),
    action: z.literal("status-list.import"),
    user: User,
    /** absolute path of the bundle, readable by the lane's user (the lane's working directory is not the caller's) */
    file: z
      .string()
      .min(1)
      .max(4096)
      .refine((f) => f.startsWith("/"), "expected an absolute path"),
  }),
  z.strictObject({
    v: z.literal(1),
    action: z.literal("journal.requeue-held"),
    user: User,
    /** release the records held for a CONFLICT too (`--conflicts`; src/journal/outbox.ts requeueHeld) */
    conflicts: z.boolean().optional(),
  }),
  z.strictObject({ v: z.literal(1), action: z.literal("journal.retention"), user: User }),
  z.strictObject({
    v: z.literal(1),
    action: z.literal("journal.settle"),
    user: User,
    seq: z.number().int().min(1),
    verdict: z.enum(SETTLE_VERDICTS),
    reason: OperatorReason,
    /** checked against the suspect by the lane (src/lane/operator-settlement.ts) */
    proof: z.partialRecord(z.enum(PROOF_FIELDS), z.string().max(32)).optional(),
  }),
  ...boothRequestSchemas(User, OperatorReason),
]);
export type ControlRequest = z.infer<typeof ControlRequest>;

/** A request the socket refused before any action (malformed, unknown, a bad argument): for the trail. */
export interface RefusedRequest {
  /** the action it named, when it named one in the form of an action; else null */
  action: string | null;
  /** the user it named, when well-formed; else null */
  user: z.infer<typeof User> | null;
  /** the refusal as the client was told it */
  message: string;
}

/** What can be read of a refused request's JSON (anything: it failed the schema). */
export function refusedRequest(raw: unknown, message: string): RefusedRequest {
  const o = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  // in the form of an entry type's tail (src/audit/entry.ts), short: it becomes `operator.<action>`
  const action =
    typeof o.action === "string" && o.action.length <= 40 && /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$/.test(o.action)
      ? o.action
      : null;
  const user = User.safeParse(o.user);
  return { action, user: user.success ? user.data : null, message };
}

export type ControlReply =
  | { kind: "progress"; phase: string; done: number; total: number }
  | { kind: "result"; ok: boolean; message: string; data?: Record<string, unknown> }
  /** the request was not understood or could not be run (no action was taken) */
  | { kind: "error"; code: string; message: string };
