// Opens a real VS Code workbench (the VS Code server bundled in code-server) in headless Chromium through
// playwright-core.
import { chromium, type Browser } from "playwright-core";

export interface WorkbenchTarget {
  /** e.g. http://127.0.0.1:8090 (VSCODE_BASE). */
  base: string;
  folder: string;
  /** Loads the extension from this folder instead of the installed ones. */
  extensionDevelopmentPath?: string;
  /** A module whose run() VS Code awaits after start; its result comes back through codeAutomationExit. */
  extensionTestsPath?: string;
}

/** The workbench URL; the extension paths in the payload are honoured only when the server runs the smoke-test driver. */
export function workbenchUrl(t: WorkbenchTarget): string {
  const remote = (p: string) => `vscode-remote://${new URL(t.base).host}${p}`;
  const payload: [string, string][] = [["skipWelcome", "true"]];
  if (t.extensionDevelopmentPath) payload.push(["extensionDevelopmentPath", remote(t.extensionDevelopmentPath)]);
  if (t.extensionTestsPath) payload.push(["extensionTestsPath", remote(t.extensionTestsPath)]);
  return `${t.base}/?folder=${encodeURIComponent(t.folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
      "--disable-background-networking", "--disable-component-update"],
  });
}

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}
