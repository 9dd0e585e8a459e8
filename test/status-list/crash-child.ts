/**
 * Child process for crash.test.ts: open the cache in <dataDir> and import <bundle>, reporting progress
 * on stdout ("ready", "p <phase> <done>", "done"). The parent kills it with SIGKILL at a random moment.
 */
import { readFileSync } from "node:fs";
import { StatusListCache } from "../../src/status-list/index.js";

const [dataDir, bundle, pubPath] = process.argv.slice(2) as [string, string, string];
const cache = await StatusListCache.open({ dataDir, publicKeyPem: readFileSync(pubPath) });
process.stdout.write("ready\n");
await cache.applyBundle(bundle, { onProgress: (p) => process.stdout.write(`p ${p.phase} ${p.done}\n`) });
process.stdout.write("done\n");
await cache.close();
