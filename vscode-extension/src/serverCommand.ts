// How to run berth (`berth serve` for the language client, `berth init` for a remedy): from the settings, else
// from a virtualenv in the workspace, else from PATH. Pure apart from the file-system probe it is given, so that
// discovery can be unit-tested.
import path from "node:path";

export interface ServerSettings {
  /** berth.serverPath: the `berth` executable. */
  serverPath: string;
  /** berth.interpreter: a Python interpreter (and leading arguments) that has berth installed. */
  interpreter: readonly string[];
}

/** The berth command line up to its subcommand: `berth`, or `<python> <args> -m berth`. */
export interface BerthCommand {
  command: string;
  /** Arguments before the subcommand (empty for the berth executable). */
  leadingArgs: string[];
  /** Where the command came from, for the output channel. */
  source: string;
}

export interface Probe {
  isExecutable(file: string): boolean;
  /** PATH entries. */
  pathDirs: readonly string[];
  home: string;
}

export type Resolution = { ok: true; berth: BerthCommand } | { ok: false; problem: string };

const VENV_DIRS = [".venv", "venv"];

/** The arguments that run a berth subcommand, e.g. `berthArgs(cmd, "serve")`. */
export function berthArgs(berth: BerthCommand, ...subcommand: string[]): string[] {
  return [...berth.leadingArgs, ...subcommand];
}

function expand(p: string, workspace: string | undefined, home: string): string {
  let out = p.replace(/\$\{workspaceFolder\}/g, workspace ?? "");
  if (out === "~" || out.startsWith("~/")) out = home + out.slice(1);
  return workspace && !path.isAbsolute(out) ? path.resolve(workspace, out) : out;
}

/** `workspaceDirs`: the open folders and their repository root, searched for a virtualenv with berth. */
export function resolveBerthCommand(settings: ServerSettings, workspaceDirs: readonly string[], probe: Probe): Resolution {
  const workspace = workspaceDirs[0];
  const executable = (file: string, source: string): Resolution => ({ ok: true, berth: { command: file, leadingArgs: [], source } });
  if (settings.serverPath.trim()) {
    const file = expand(settings.serverPath.trim(), workspace, probe.home);
    return probe.isExecutable(file)
      ? executable(file, "setting berth.serverPath")
      : { ok: false, problem: `berth.serverPath is ${file}, which is not an executable file; fix the setting` };
  }
  const [python, ...pythonArgs] = settings.interpreter;
  if (python?.trim()) {
    const file = expand(python.trim(), workspace, probe.home);
    return probe.isExecutable(file)
      ? { ok: true, berth: { command: file, leadingArgs: [...pythonArgs, "-m", "berth"], source: "setting berth.interpreter" } }
      : { ok: false, problem: `berth.interpreter is ${file}, which is not an executable file; fix the setting` };
  }
  for (const dir of workspaceDirs) {
    for (const venv of VENV_DIRS) {
      const file = path.join(dir, venv, "bin", "berth");
      if (probe.isExecutable(file)) return executable(file, `virtualenv ${path.dirname(path.dirname(file))}`);
    }
  }
  for (const dir of probe.pathDirs) {
    const file = path.join(dir, "berth");
    if (dir && probe.isExecutable(file)) return executable(file, "PATH");
  }
  return {
    ok: false,
    problem: "the berth server was not found (no berth.serverPath or berth.interpreter setting, no .venv/bin/berth in the workspace, no berth on PATH); install berth or set berth.serverPath",
  };
}
