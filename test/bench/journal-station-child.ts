/** Child process for the outbox-drain benchmark: the station simulator on its own core, as in the field. */
import { startStation } from "../../sim/station/station.js";

const dbPath = process.argv[2];
const st = await startStation(dbPath ? { dbPath } : {});
process.stdout.write(`${st.url}\n`);
process.on("message", (m) => {
  if (m === "stats") process.send?.(st.stats());
  if (m === "close") void st.close().then(() => process.exit(0));
});
