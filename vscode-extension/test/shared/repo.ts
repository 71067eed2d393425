// Temp git repositories with a berth.toml, for the extension-host and UI tests.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";

export interface BerthTomlOptions {
  basePort: number;
  postUp?: string;
  /** The web service's command (default: python's http.server on its allocated port). */
  command?: string;
  /** strict_port: a taken port is an error instead of a search for the next free one. */
  strictPort?: boolean;
}

/** Host mode, one native service "web". */
export function berthToml({ basePort, postUp, command = "python3 -m http.server $PORT --bind 127.0.0.1", strictPort }: BerthTomlOptions): string {
  const lines = [
    'mode = "host"',
    "max_slots = 4",
    ...(strictPort ? ["strict_port = true"] : []),
    "",
    "[[services]]",
    'name = "web"',
    `base_port = ${basePort}`,
    `command = ${JSON.stringify(command)}`,
  ];
  if (postUp) lines.push("", "[hooks]", `post_up = ${JSON.stringify(postUp)}`);
  return `${lines.join("\n")}\n`;
}

export function writeBerthToml(repo: string, options: BerthTomlOptions): void {
  writeFileSync(path.join(repo, "berth.toml"), berthToml(options));
}

export function git(repo: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=Berth Test", "-c", "user.email=test@berth.invalid", ...args], {
    cwd: repo,
    encoding: "utf8",
  });
}

/** A repository on branch main with one commit holding berth.toml and a README. */
export function makeRepo(dir: string, options: BerthTomlOptions): string {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  writeFileSync(path.join(dir, "README.md"), "# test repo\n");
  writeFileSync(path.join(dir, ".gitignore"), ".berth/\n");
  writeBerthToml(dir, options);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", "init");
  return dir;
}

/** Paths of the repository's worktrees, from `git worktree list`. */
export function worktrees(repo: string): string[] {
  return git(repo, "worktree", "list", "--porcelain")
    .split("\n")
    .filter((l) => l.startsWith("worktree "))
    .map((l) => l.slice("worktree ".length));
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
  });
}

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
