/**
 * `etc-sim reader --pty | head -2`: once the reader of stdout has gone, a line written later (an event,
 * the "stopped: ..." summary on SIGTERM) fails with EPIPE. Without a handler that error is thrown as an
 * unhandled 'error' event and the simulator dies in the middle of its shutdown (ledger, pty, card store
 * left as they were). The simulators keep running and shut down as usual; their stdout lines go nowhere.
 */
export function ignoreStdoutEpipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") return;
    throw e;
  });
}
