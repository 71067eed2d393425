// Bundles the extension (dist/) and, on request, the tests (out/) with esbuild.
//   node scripts/build.mjs [--unit] [--e2e]
import { readdirSync } from "node:fs";
import { build } from "esbuild";

const common = { bundle: true, platform: "node", format: "cjs", target: "node20", logLevel: "warning" };
const args = process.argv.slice(2);

await build({ ...common, entryPoints: ["src/extension.ts"], outfile: "dist/extension.js", external: ["vscode"], minify: true, sourcemap: true });

if (args.includes("--unit")) {
  const units = readdirSync("test/unit").filter((f) => f.endsWith(".test.ts")).map((f) => `test/unit/${f}`);
  // ESM, so that the protocol generator's import.meta works; the code under test never imports vscode.
  await build({ ...common, entryPoints: units, outdir: "out/unit", packages: "external", format: "esm", outExtension: { ".js": ".mjs" } });
}
if (args.includes("--e2e")) {
  // Runs inside VS Code's extension host, which provides the vscode module.
  await build({ ...common, entryPoints: ["test/suite/index.ts"], outfile: "out/suite/index.js", external: ["vscode"] });
  // Drive a real VS Code in Chromium from node.
  await build({ ...common, entryPoints: ["test/e2e/exthost.ts", "test/e2e/ui.ts"], outdir: "out/e2e", packages: "external" });
}
