/**
 * The page's static files (assets/page.js, assets/page.css), read once at start. They live beside this
 * module in the sources; the TypeScript build does not copy them, so the build (dist/src/service/page)
 * reads them from the package's src/service/page/assets, which every install of the package has.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Asset {
  body: Buffer;
  type: string;
}

function assetDir(): string {
  const here = fileURLToPath(new URL("./assets/", import.meta.url));
  if (existsSync(`${here}page.js`)) return here;
  // dist/src/service/page/ -> <package>/src/service/page/assets/
  return fileURLToPath(new URL("../../../../src/service/page/assets/", import.meta.url));
}

export function loadAssets(): Map<string, Asset> {
  const dir = assetDir();
  const m = new Map<string, Asset>();
  m.set("/assets/page.js", { body: readFileSync(`${dir}page.js`), type: "text/javascript; charset=utf-8" });
  m.set("/assets/page.css", { body: readFileSync(`${dir}page.css`), type: "text/css; charset=utf-8" });
  return m;
}
