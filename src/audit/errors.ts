/**
 * Error codes of the audit trail (the 62x part of the durable-record group, see src/journal/errors.ts).
 * Callers branch on `code`, never on message text.
 */
export const AuditErrorCodes = {
  /** A line could not be written to the segment file (disk full, I/O error, read-only file system). */
  AuditWrite: "E621_AUDIT_WRITE",
  /** The trail or its key cannot be read. */
  AuditRead: "E622_AUDIT_READ",
  /**
   * The key needed to sign or verify checkpoints is missing, unreadable or of the wrong type, or a key
   * file could not be written or fsynced (src/audit/lane-key.ts).
   */
  AuditKey: "E623_AUDIT_KEY",
  /** The trail was closed. */
  AuditClosed: "E624_AUDIT_CLOSED",
  /**
   * Retention deleted nothing: its `audit.retention` entry could not be sealed (signing failed), its seal
   * is not on the disk yet (a failed write or fdatasync), or the journal whose kept rows bound the files it
   * may delete is not healthy.
   */
  AuditRetention: "E625_AUDIT_RETENTION",
} as const;

export type AuditErrorCode = (typeof AuditErrorCodes)[keyof typeof AuditErrorCodes];
