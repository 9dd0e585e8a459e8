/**
 * `etc-lane run --config FILE`: one lane process. Validates the config (an error names the field): its
 * schema, then the files and paths it names (src/config/preflight.ts: station key, tariff, token files,
 * the control socket's path), before anything is opened; then whether the lane may start in its dataDir:
 * one that holds its journal, or a missing or empty one only with `--init`, the lane's first start; and only
 * as the directory's owner (src/datadir/lane-start.ts). `--check` runs these same checks and stops; it also
 * refuses an enabled capture.dir the lane cannot write in or create, which run logs at error and starts.
 * Then it opens the journal, status list and trail, starts the status service (HTTP, maintenance page,
 * control socket: src/service/serve-lane.ts), starts the controller (which opens the RSU port), and runs
 * until SIGINT/SIGTERM (taken from before the lane opens: ../stop-signals.ts; Node handles a signal when the
 * process next waits on I/O, so one that comes while the lane opens closes it as soon as it is open if
 * opening waited, else at the next wait: the status service's start, or the controller's). SIGHUP, from the log's open on,
 * opens `log.file` again (a log rotation) and
 * the lane goes on; but when the terminal the lane was started on is gone (onTerminal), it stops the lane as
 * SIGTERM does. The stop closes the lane to new vehicles and drains its debits in flight
 * (antenna off) at once, while the status service waits for the operator actions it had taken (at most
 * src/service/control/server.ts STOP_WAIT_MS); the lane's journal, trail and status list close after both.
 */
import type { Command } from "commander";
import { readLaneConfig } from "../../config/load.js";
import {
  captureDirNotes,
  captureFileSystemNotes,
  checkLaneConfig,
  configNotes,
  dataDirNotes,
  freePassageNotes,
  type LaneConfigProblem,
  laneConfigNotes,
} from "../../config/preflight.js";
import { laneTariffPath } from "../../config/schema.js";
import { checkLaneStart } from "../../datadir/lane-start.js";
import { laneLabel } from "../../journal/trade-id.js";
import { laneLogOptions, openLogger, reopenLogFile } from "../../log.js";
import type { ServedLane } from "../../service/serve-lane.js";
import { UsageError } from "../run-cli.js";
import { onTerminal, takeReopenSignal, takeStopSignals } from "../stop-signals.js";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run the lane controller for one lane (RSU link, OBU transactions, journal, status list)")
    .requiredOption("--config <file>", "lane config YAML (see config/lane.example.yaml)")
    .option(
      "--check",
      "validate the config as run does before it starts (fields, key, tariff, token files, dataDir) and exit; writes nothing",
    )
    .option(
      "--init",
      "the lane's first start: dataDir may be missing (it is created) or hold no journal; refused where a lane has run",
    )
    .action(async (opts: { config: string; check?: boolean; init?: boolean }) => {
      const init = opts.init === true;
      // an unset shell variable: a usage error naming the option, as the other commands' (../lane-locate.ts
      // locateLane), not "cannot read the config file (ENOENT ..., open '')"
      if (opts.config === "")
        throw new UsageError("--config is empty: give the lane's config file (an unset shell variable?)");
      // the config and the digest of the bytes it was parsed from, for the trail's lane.start
      const { config, file: configFile } = readLaneConfig(opts.config);
      // every check that needs no open file, lock or database: run refuses nothing --check passed for these
      if (opts.check) {
        // and whether run may start in dataDir (a journal there, or --init; its owner), under dataDir
        checkLaneConfig(config, opts.config, { start: { init, configFile: opts.config } });
        // what the config holds that the lane does not use (an entry lane's tariff), a tariff's free
        // passage: said, not refused
        const notes = laneConfigNotes(config);
        process.stdout.write(`${opts.config}: OK (lane ${laneLabel(config.lane)}, ${config.lane.role})\n`);
        for (const n of notes) process.stderr.write(`${opts.config}: note: ${n.path}: ${n.message}\n`);
        return;
      }
      // a capture.dir the lane cannot write in or create is not refused here (--check refuses it): logged
      // at error below, and the lane starts capturing nothing
      checkLaneConfig(config, opts.config, { atRun: true });
      // a missing or empty dataDir only with --init (a data disk not mounted is not a new lane), and only as
      // its owner: E412 or E413, nothing created (src/datadir/lane-start.ts)
      checkLaneStart(config.dataDir, { init, configFile: opts.config });
      // log.file is opened here: one that cannot be opened for append stops run, naming the field
      const logger = openLogger("etc-lane", laneLogOptions(config.log), opts.config);
      // a write to a stderr that is gone (EIO: that terminal closed) is no reason to end the lane mid-vehicle
      process.stderr.on("error", () => {});
      // SIGINT/SIGTERM from here on, before the lane opens (Node's default would end the process at once: no
      // lane.stop in the trail, the data directory's holder file left). Node handles a signal when the
      // process next waits on I/O, and the checks below act on the ones handled by then: one before the open
      // keeps the lane from opening, one handled while it opens closes it as soon as it is open, one while
      // the status service starts keeps the controller from starting, one while the controller starts
      // closes both in order once that is done (or failed); any later one is the running lane's stop
      const stop = takeStopSignals();
      // SIGHUP from here on too: the terminal the lane ran on gone (one at the start, none now: onTerminal),
      // the same orderly stop; otherwise a log rotation's: log.file opened again at its path, the lane going on
      const startedOnTerminal = onTerminal();
      let hungUp = false;
      const hup = takeReopenSignal(() => {
        if (startedOnTerminal && !onTerminal()) {
          if (!hungUp) logger.warn("SIGHUP: the terminal this lane runs on is gone: stopping");
          hungUp = true;
          stop.request();
          return;
        }
        if (!reopenLogFile(logger))
          logger.info("SIGHUP: the log is on stderr, no log file to reopen; the lane goes on");
      });
      try {
        // at warn, or at error when log.level is error: a note the lane's own log level drops would reach no
        // one (outputs.sink log under log.level error is itself such a note)
        const noteAt = config.log.level === "error" ? "error" : "warn";
        const note = (n: LaneConfigProblem): void =>
          logger[noteAt]({ field: n.path, config: opts.config }, `${n.path}: ${n.message}`);
        for (const n of configNotes(config)) note(n);
        for (const n of captureDirNotes(config))
          logger.error({ field: n.path, config: opts.config }, `${n.path}: ${n.message}`);
        // a dataDir or capture.dir on a network file system: taken, but said loudly (an error line); on another
        // FUSE mount, as a note (src/datadir/fs-type.ts)
        for (const n of [...dataDirNotes(config), ...captureFileSystemNotes(config)])
          logger[n.level === "error" ? "error" : noteAt](
            { field: n.path, config: opts.config },
            `${n.path}: ${n.message}`,
          );
        if (init)
          logger.info(
            { dataDir: config.dataDir },
            "first start of this lane (--init): a new journal in dataDir",
          );
        // the lane's runtime (the RSU link, controller, booth, uplink) and its status service are loaded
        // here, by `run` only, so the other commands (decode, status, audit, ...) start without them (those
        // that read the journal or the status list still load them). All of it before the controller starts,
        // so that no loading of the service's modules (HTTP, metrics, page) runs on the lane thread while it
        // initialises the RSU and answers its first vehicles; the restart benchmark (test/bench/restart.ts)
        // measured this and, built with the run.ts before 2026-12-07, the older ordering (docs/benchmarks.md,
        // "Lane restart")
        const [{ tuneLaneProcess }, { openLane }, { serveLane }] = await Promise.all([
          import("../../lane/process-tuning.js"),
          import("../../lane/runtime.js"),
          import("../../service/serve-lane.js"),
        ]);
        // best effort: a lane untuned trades all the same (its lookups may wait longer for a CPU)
        try {
          const tuning = await tuneLaneProcess();
          logger.info(tuning, "lane process tuned (src/lane/process-tuning.ts)");
        } catch (e) {
          logger.warn(
            { err: (e as Error).message },
            "lane process tuning failed (src/lane/process-tuning.ts); the lane goes on untuned",
          );
        }
        if (stop.requested) {
          logger.info("stopping: the lane was not opened");
          return;
        }
        const lane = await openLane(config, { logger, configFile });
        if (stop.requested) {
          // the same close as a stop once the lane runs (lane.stop in the trail, the lock released)
          logger.info("stopping: the stop came while the lane opened; closing the lane");
          await lane.close();
          return;
        }
        // the free passage of the tariff the lane charges (the one its trail's tariff.loaded names), not of a
        // read of its own: a file replaced meanwhile would be another table
        const tariffFile = laneTariffPath(config);
        if (lane.tariff !== null && tariffFile !== null)
          for (const n of freePassageNotes(tariffFile, lane.tariff)) note(n);
        // a tariff of the version the lane loaded before, with other bytes (src/lane/tariff-reuse.ts)
        for (const n of lane.tariffNotes) note(n);
        lane.controller.status$.subscribe((s) => logger.info({ lane: s }, "lane status"));
        let served: ServedLane | null = null;
        try {
          // the status service, page and control socket (docs/maintenance.md), up before the controller
          // starts: its set-up is done before the lane opens and answers a vehicle (a stop is seen here
          // only once the process has waited on I/O since the check above: not before this call)
          served = await serveLane(lane, config, { logger });
          if (!stop.requested) await lane.controller.start();
        } catch (e) {
          // the start's error is the one reported; the lane's journal, trail and list close all the same
          try {
            await served?.close();
          } catch (c) {
            logger.warn({ err: (c as Error).message }, "status service close failed");
          }
          await lane.close();
          throw e;
        }
        if (!stop.requested)
          logger.info(
            {
              rsu: config.rsu.port,
              protocol: config.rsu.protocol,
              page: served.service.listening
                ? served.service.url
                : `${served.service.url} (not listening yet: retrying)`,
            },
            "lane controller running",
          );
        await stop.stopped;
        logger.info(
          "stopping: the lane closes to new vehicles and drains while the status service closes; then the journal and trail",
        );
        // the lane stops trading now, not once the service's wait for operator actions is over (an import,
        // a retention run): a stop that took long with the lane still open would meet systemd's SIGKILL
        // while vehicles pass. The actions still need the journal and trail, which close after both.
        const ends = await Promise.allSettled([served.close(), lane.controller.stop()]);
        await lane.close();
        for (const e of ends) if (e.status === "rejected") throw e.reason;
      } finally {
        stop.dispose();
        hup.dispose();
      }
    });
}
