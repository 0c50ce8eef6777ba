// Bundles the upload page (src/main.js and its CSS) into the gateway's static folder.
// Run by scripts/bootstrap.sh (`npm ci && npm run build`); the output is not committed.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { copyFile, mkdir } from "node:fs/promises";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "../src/beatpass_upload/static");

await esbuild.build({
  absWorkingDir: here,
  entryPoints: { upload: "src/main.js" },
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  platform: "browser",
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  outdir,
  logLevel: "info",
});

// The favicon is served as it is, next to the bundle.
await mkdir(outdir, { recursive: true });
await copyFile(path.join(here, "src/favicon.svg"), path.join(outdir, "favicon.svg"));
