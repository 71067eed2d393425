// UI smoke test in a real VS Code with the packaged extension installed: command palette -> progress -> status bar
// and the Berth Sessions view, the progress notification's Cancel button, Berth: Down on a dirty worktree, the
// server's verdict on a typed branch name, an error's remedy button, and an untrusted workspace where Berth runs
// nothing; screenshots go to ARTIFACTS. The servers run without the smoke-test
// driver, which would suppress notification toasts; UNTRUSTED_BASE's server has workspace trust enabled.
// Env: VSCODE_BASE, UNTRUSTED_BASE, UI_REPO and UNTRUSTED_REPO (created here), UI_BASE_PORT, ARTIFACTS, VERBOSE.
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { git, makeRepo, portOpen, waitFor, worktrees, writeBerthToml } from "../shared/repo";
import { launchBrowser, requireEnv, workbenchUrl } from "./workbench";

const repo = requireEnv("UI_REPO");
const basePort = Number(requireEnv("UI_BASE_PORT"));
const artifacts = requireEnv("ARTIFACTS");
const LONG = 60_000;

const statusBar = (page: Page) => page.locator("#workbench\\.parts\\.statusbar");

async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row").filter({ hasText: title }).first().click();
}

/** Types into the open quick pick and accepts the row that shows `row`. */
async function pick(page: Page, typed: string, row: string): Promise<void> {
  const input = page.locator(".quick-input-widget input");
  await input.fill(typed);
  await page.locator(".quick-input-list .monaco-list-row").filter({ hasText: row }).first().waitFor();
  await page.keyboard.press("Enter");
}

/** Listens on 127.0.0.1:`port` until closed, so that Berth finds it taken. */
function holdPort(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once("error", reject).listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** Lets notification animations finish before a screenshot. */
const settle = (page: Page) => page.waitForTimeout(700);

const worktree = (slug: string) => path.join(repo, ".berth", "worktrees", slug);

/** Processes running `berth serve` in `dir` (the extension starts the server in the repository root). */
function berthServersIn(dir: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return readlinkSync(`/proc/${pid}/cwd`) === dir && argv.some((a) => path.basename(a) === "berth") && argv.includes("serve");
    } catch {
      return false;
    }
  });
}

async function openWorkbench(browser: Browser, base: string, folder: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  if (process.env.VERBOSE) page.on("console", (m) => console.log(`[console] ${m.text()}`));
  await page.goto(workbenchUrl({ base, folder }));
  await page.locator(".monaco-workbench").waitFor({ timeout: LONG });
  return page;
}

const scenarios: { name: string; fn: (page: Page, browser: Browser) => Promise<void> }[] = [
  {
    name: "Berth: Up from the command palette shows progress, then the session in the status bar",
    fn: async (page) => {
      await statusBar(page).getByText("Berth: no sessions").waitFor({ timeout: LONG });
      await runCommand(page, "Berth: Up");
      await pick(page, "ui-smoke", "new branch");
      await page.locator(".notification-toast").filter({ hasText: "Berth: bringing up ui-smoke" }).waitFor({ timeout: 10_000 });
      await statusBar(page).getByText("Berth: up ui-smoke").waitFor({ timeout: 10_000 });
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "progress.png") });
      await statusBar(page).getByText("Berth: ui-smoke · host · slot 1 · active").waitFor({ timeout: LONG });
      await page.locator(".notification-toast").filter({ hasText: "Berth: ui-smoke is up" }).waitFor({ timeout: 10_000 });
      await page.locator(".pane-header").filter({ hasText: "Berth Sessions" }).click();
      await page.locator(".monaco-list-row").filter({ hasText: "host · slot 1 · active" }).waitFor({ timeout: 10_000 });
      await page.locator(".monaco-list-row").filter({ hasText: "running" }).first().waitFor({ timeout: 10_000 });
      await statusBar(page).screenshot({ path: path.join(artifacts, "statusbar.png") });
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "workbench.png") });
      if (!existsSync(worktree("ui-smoke"))) throw new Error("no worktree for ui-smoke");
      if (!(await portOpen(basePort + 1))) throw new Error(`port ${basePort + 1} is not listening`);
    },
  },
  {
    name: "the progress notification's Cancel button rolls the bring-up back",
    fn: async (page) => {
      writeBerthToml(repo, { basePort, postUp: "sleep 30" });
      await runCommand(page, "Notifications: Clear All Notifications");
      await runCommand(page, "Berth: Up");
      await pick(page, "ui-cancel", "new branch");
      const toast = page.locator(".notification-toast").filter({ hasText: "Berth: bringing up ui-cancel" }).first();
      await toast.waitFor({ timeout: 10_000 });
      await waitFor("ui-cancel's service (post_up runs after it)", () => portOpen(basePort + 2), LONG);
      await toast.hover();
      await toast.getByRole("button", { name: "Cancel" }).click();
      await page.locator(".notification-toast").filter({ hasText: "the bring-up of ui-cancel was cancelled and rolled back" })
        .waitFor({ timeout: LONG });
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "cancelled.png") });
      await statusBar(page).getByText("Berth: ui-smoke · host · slot 1 · active").waitFor({ timeout: 10_000 });
      if (existsSync(worktree("ui-cancel"))) throw new Error("ui-cancel's worktree is still there");
      if (await portOpen(basePort + 2)) throw new Error(`port ${basePort + 2} is still listening`);
    },
  },
  {
    name: "Berth: Down asks before removing a dirty worktree, then tears the session down",
    fn: async (page) => {
      writeFileSync(path.join(worktree("ui-smoke"), "scratch.txt"), "uncommitted work\n");
      await runCommand(page, "Berth: Down");
      await pick(page, "ui-smoke", "ui-smoke");
      const dialog = page.locator(".monaco-dialog-box").filter({ hasText: "The worktree of 'ui-smoke' has uncommitted changes." })
        .filter({ hasText: "scratch.txt" });
      await dialog.waitFor({ timeout: 10_000 });
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "dirty-down.png") });
      await dialog.getByRole("button", { name: "Remove Anyway" }).click();
      await statusBar(page).getByText("Berth: no sessions").waitFor({ timeout: LONG });
      if (existsSync(worktree("ui-smoke"))) throw new Error("ui-smoke's worktree is still there");
      if (await portOpen(basePort + 1)) throw new Error(`port ${basePort + 1} is still listening`);
    },
  },
  {
    name: "Berth: Up's branch pick shows why the server refuses a typed name and does not accept it",
    fn: async (page) => {
      await runCommand(page, "Berth: Up");
      const input = page.locator(".quick-input-widget input");
      const row = (text: string) => page.locator(".quick-input-list .monaco-list-row").filter({ hasText: text }).first();
      await input.fill("feat/Ünïcode");
      await row("contains non-ASCII characters").waitFor({ timeout: 10_000 });
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "branch-refused.png") });
      await page.keyboard.press("Enter");
      // The pick is still open: it takes another name and shows the server's verdict on it.
      await input.fill("ui-Valid");
      await row("new branch · session ui-valid").waitFor({ timeout: 10_000 });
      await page.keyboard.press("Escape");
      await statusBar(page).getByText("Berth: no sessions").waitFor({ timeout: 10_000 });
      if (worktrees(repo).length !== 1) throw new Error(`a worktree was created: ${worktrees(repo).join(", ")}`);
    },
  },
  {
    name: "a taken port with strict_port: the error's Choose Port button asks for a port and brings the session up on it",
    fn: async (page) => {
      writeBerthToml(repo, { basePort, strictPort: true });
      const holder = await holdPort(basePort + 1);
      try {
        await runCommand(page, "Notifications: Clear All Notifications");
        await runCommand(page, "Berth: Up");
        await pick(page, "ui-port", "new branch");
        const toast = page.locator(".notification-toast").filter({ hasText: `port ${basePort + 1} for service 'web'` }).first();
        await toast.waitFor({ timeout: LONG });
        await toast.hover();
        await toast.getByRole("button", { name: "Choose Port for web…" }).click();
        const input = page.locator(".quick-input-widget").filter({ hasText: "Berth: port for web" }).locator("input");
        await input.fill("not a port");
        await page.locator(".quick-input-widget").getByText("Type a port number from 1 to 65535.").waitFor({ timeout: 10_000 });
        await input.fill(String(basePort + 5));
        await settle(page);
        await page.screenshot({ path: path.join(artifacts, "choose-port.png") });
        await page.keyboard.press("Enter");
        await statusBar(page).getByText("Berth: ui-port · host · slot 1 · active").waitFor({ timeout: LONG });
        if (!(await portOpen(basePort + 5))) throw new Error(`the chosen port ${basePort + 5} is not listening`);
      } finally {
        holder.close();
        writeBerthToml(repo, { basePort });
      }
      await runCommand(page, "Berth: Down");
      await pick(page, "ui-port", "ui-port");
      await statusBar(page).getByText("Berth: no sessions").waitFor({ timeout: LONG });
    },
  },
  {
    name: "an error's remedy is a button that does it: WORKTREE_EXISTS, then Reuse Worktree brings the session up there",
    fn: async (page) => {
      writeBerthToml(repo, { basePort });
      git(repo, "worktree", "add", "-q", "-b", "ui-reuse", worktree("ui-reuse"));
      await runCommand(page, "Notifications: Clear All Notifications");
      await runCommand(page, "Berth: Up");
      await pick(page, "ui-reuse", "ui-reuse");
      const toast = page.locator(".notification-toast").filter({ hasText: "worktrees/ui-reuse already exists" }).first();
      await toast.waitFor({ timeout: LONG });
      await toast.hover();
      await settle(page);
      await page.screenshot({ path: path.join(artifacts, "remedy.png") });
      await toast.getByRole("button", { name: "Reuse Worktree" }).click();
      await statusBar(page).getByText("Berth: ui-reuse · host · slot 1 · active").waitFor({ timeout: LONG });
      if (!(await portOpen(basePort + 1))) throw new Error(`port ${basePort + 1} is not listening`);
      // Berth never deletes a worktree it did not create: the session goes, the worktree stays.
      await runCommand(page, "Berth: Down");
      await pick(page, "ui-reuse", "ui-reuse");
      await statusBar(page).getByText("Berth: no sessions").waitFor({ timeout: LONG });
      if (!existsSync(worktree("ui-reuse"))) throw new Error("Berth deleted a worktree it did not create");
      if (await portOpen(basePort + 1)) throw new Error(`port ${basePort + 1} is still listening`);
    },
  },
  {
    name: "in an untrusted workspace Berth starts no server and says why",
    fn: async (_page, browser) => {
      const untrusted = makeRepo(requireEnv("UNTRUSTED_REPO"), { basePort });
      const page = await openWorkbench(browser, requireEnv("UNTRUSTED_BASE"), untrusted);
      try {
        // The web workbench opens a new folder in Restricted Mode without asking.
        await statusBar(page).getByText("Restricted Mode").waitFor({ timeout: LONG });
        await statusBar(page).getByText("Berth", { exact: true }).waitFor({ timeout: LONG });
        await runCommand(page, "Berth: Up");
        await page.locator(".notification-toast").filter({ hasText: "Berth runs nothing in an untrusted workspace" })
          .waitFor({ timeout: 10_000 });
        await settle(page);
        await page.screenshot({ path: path.join(artifacts, "untrusted.png") });
        if (berthServersIn(untrusted).length) throw new Error("a berth server runs for the untrusted workspace");
        if (existsSync(path.join(untrusted, ".berth"))) throw new Error("the untrusted workspace got a .berth directory");
      } finally {
        await page.close();
      }
    },
  },
];

async function main(): Promise<number> {
  mkdirSync(artifacts, { recursive: true });
  makeRepo(repo, { basePort, postUp: "sleep 2" });
  const browser = await launchBrowser();
  let passed = 0;
  let failed = 0;
  try {
    const page = await openWorkbench(browser, requireEnv("VSCODE_BASE"), repo);
    for (const [i, s] of scenarios.entries()) {
      const t0 = Date.now();
      try {
        await s.fn(page, browser);
        passed++;
        console.log(`ok - ${s.name} (${Date.now() - t0} ms)`);
      } catch (e) {
        failed++;
        await page.screenshot({ path: path.join(artifacts, `fail-${i + 1}.png`) }).catch(() => undefined);
        console.log(`not ok - ${s.name} (${Date.now() - t0} ms)\n    ${(e instanceof Error && e.stack) || String(e)}`);
        await page.keyboard.press("Escape");
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`screenshots in ${artifacts}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(e);
  console.log("0 passed, 1 failed");
  process.exit(1);
});
