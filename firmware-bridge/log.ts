/**
 * The logger is injected: no global console, no import-time configuration.
 * The shape is pino's, so a pino child logger can be passed straight in; tests pass `silentLogger`.
 */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  /** pino's level check: lets hot paths skip building messages nobody will read. */
  isLevelEnabled?(level: string): boolean;
}

const noop = (): void => {};
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
