// "Berth: Open Terminal in Session": where a terminal can open, and the terminal the server's berth/env answer
// describes. Pure (no vscode import); the server decides what runs (its rules: the worktree with the session's env,
// or `docker compose … exec SERVICE sh` with a pseudo-TTY), the extension only starts it.
import type { EnvResult, SessionView } from "./protocol.generated";

export interface TerminalTarget {
  label: string;
  description: string;
  /** A docker service whose container the terminal attaches to; undefined: the worktree. */
  service?: string;
}

/** The worktree first, then each docker service of the session (the server refuses one that is not running). */
export function terminalTargets(session: SessionView): TerminalTarget[] {
  return [
    { label: "$(folder) Worktree", description: session.worktreePath },
    ...session.services
      .filter((s) => s.kind === "docker")
      .map((s) => ({ label: `$(vm) ${s.name}`, description: `${s.container ?? "container"} ${s.state}`, service: s.name })),
  ];
}

/** The options of vscode.window.createTerminal. */
export interface TerminalSpec {
  name: string;
  cwd: string;
  /** Set on top of VS Code's own environment: the inherited env files, then .env.berth. */
  env: Record<string, string>;
  /** Absent: the user's default shell. */
  shellPath?: string;
  shellArgs?: string[];
}

/** The terminal of a berth/env answer asked with `shell: true`; undefined when it carries none. */
export function terminalSpec(result: EnvResult): TerminalSpec | undefined {
  const shell = result.shell;
  if (!shell) return undefined;
  const name = shell.service ? `Berth: ${result.slug}/${shell.service}` : `Berth: ${result.slug}`;
  const [shellPath, ...shellArgs] = shell.argv ?? [];
  return { name, cwd: shell.cwd, env: { ...shell.env }, ...(shellPath ? { shellPath, shellArgs } : {}) };
}
