// Reads the berth.* settings and the workspace the extension works on.
import { accessSync, constants, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as vscode from "vscode";
import { repoRoot } from "./git";
import { resolveBerthCommand, type Resolution } from "./serverCommand";

export const SECTION = "berth";
/** Settings whose change needs a server restart (berth.trace.server is applied by the language client itself). */
const RESTART_SETTINGS = ["berth.serverPath", "berth.interpreter"];

export function needsRestart(e: vscode.ConfigurationChangeEvent): boolean {
  return RESTART_SETTINGS.some((s) => e.affectsConfiguration(s));
}

/** The folder Berth works on: the first workspace folder with a berth.toml, else the first folder. */
export function workspaceFolder(): string | undefined {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath);
  return folders.find((f) => isFile(path.join(f, "berth.toml"))) ?? folders[0];
}

/** The repository root Berth requests name (the main worktree, also when a session's worktree is open). */
export async function berthRoot(): Promise<string | undefined> {
  const folder = workspaceFolder();
  return folder ? ((await repoRoot(folder)) ?? folder) : undefined;
}

/** How to run berth for this workspace (settings, a virtualenv, PATH). */
export async function resolveBerth(): Promise<Resolution> {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const folder = workspaceFolder();
  const root = await berthRoot();
  const dirs = [...new Set([folder, root].filter((d): d is string => !!d))];
  return resolveBerthCommand(
    { serverPath: cfg.get<string>("serverPath", ""), interpreter: cfg.get<string[]>("interpreter", []) },
    dirs,
    { isExecutable, pathDirs: (process.env.PATH ?? "").split(path.delimiter), home: os.homedir() },
  );
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  if (!isFile(file)) return false;
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
