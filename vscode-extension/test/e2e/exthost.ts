// Runs the extension-host tests (out/suite/index.js) inside a real VS Code and exits with their result.
// Env: VSCODE_BASE, EXT_DEV (extension folder), EXT_FOLDER (workspace repository, created here),
// BERTH_TEST_BASE_PORT (its services' base port; the VS Code server has it too), EXT_TIMEOUT_MS, VERBOSE.
import path from "node:path";
import { makeRepo } from "../shared/repo";
import { launchBrowser, requireEnv, workbenchUrl } from "./workbench";

async function main(): Promise<number> {
  const t0 = Date.now();
  const dev = requireEnv("EXT_DEV");
  const folder = makeRepo(requireEnv("EXT_FOLDER"), { basePort: Number(requireEnv("BERTH_TEST_BASE_PORT")) });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    let exit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    await page.exposeFunction("codeAutomationLog", () => undefined);
    await page.exposeFunction("codeAutomationExit", (code: number) => exit(code));
    if (process.env.VERBOSE) page.on("console", (m) => console.log(`[console] ${m.text()}`));
    await page.goto(workbenchUrl({
      base: requireEnv("VSCODE_BASE"),
      folder,
      extensionDevelopmentPath: dev,
      extensionTestsPath: path.join(dev, "out", "suite", "index.js"),
    }));
    const timeoutMs = Number(process.env.EXT_TIMEOUT_MS ?? 180_000);
    const code = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-1), timeoutMs))]);
    console.log(`extension-host tests: exit=${code === -1 ? `timeout after ${timeoutMs} ms` : code} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return code === 0 ? 0 : 1;
  } finally {
    await browser.close();
  }
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
