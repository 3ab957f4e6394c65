// Copies the client's pure book modules from dist/ (npm run build) into the dashboard (feed/web/sdk/), so
// that the page served by the feed keeps its books with this package's code. test/dashboard.test.js fails
// when the copies differ from the build output: run `npm run build && npm run dashboard` after changing them.
import { copyFileSync, mkdirSync } from "node:fs";

export const MODULES = ["decimal.js", "checksum.js", "book.js"];
const dist = new URL("../dist/", import.meta.url);
const web = new URL("../../../feed/web/sdk/", import.meta.url);

if (process.argv[1] === new URL(import.meta.url).pathname) {
  mkdirSync(web, { recursive: true });
  for (const m of MODULES) copyFileSync(new URL(m, dist), new URL(m, web));
  console.log(`copied ${MODULES.join(", ")} to feed/web/sdk/`);
}
