/**
 * `etc-lane --help | head`: help (like the version) is written to stdout
 * before any action runs, so the quit-on-broken-pipe handler must be there from the CLI's load, not only
 * from commander's preAction (src/cli/stdout-errors.ts, src/cli/etc-lane.ts). From dist/.
 */
import { once } from "node:events";
import { expect, it } from "vitest";
import { spawnCli } from "../../sim/harness/procs.js";

// session 35 review: the handler was installed in preAction only, so a reader gone before the help was
// written was an uncaught EPIPE (a stack trace on stderr, exit 1)
it("etc-lane --help whose reader went away: exit 0, nothing on stderr", async () => {
  const cli = spawnCli("etc-lane", ["--help"], { name: "help" });
  // the reader goes away before the CLI has loaded, so the help's write meets a closed pipe
  cli.child.stdout?.destroy();
  const [code, signal] = await once(cli.child, "close");
  const stderr = cli.lines.filter((l) => l.stream === "stderr").map((l) => l.text);
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: [] });
});
