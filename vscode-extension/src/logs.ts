// "Berth: Show Logs": follows a service's log in a terminal.
import path from "node:path";
import * as vscode from "vscode";
import type { Service, Session } from "./protocol.generated";

/** Where the server writes a native service's output: <root>/.berth/logs/<slug>/<service>.log. */
export function serviceLogFile(root: string, slug: string, service: string): string {
  return path.join(root, ".berth", "logs", slug, `${service}.log`);
}

/** Opens (or re-opens) a terminal following the service's log; returns the terminal. */
export function showServiceLog(root: string, session: Session, service: Service): vscode.Terminal {
  const name = `Berth logs: ${session.slug}/${service.name}`;
  vscode.window.terminals.find((t) => t.name === name)?.dispose();
  const terminal = vscode.window.createTerminal({
    name,
    cwd: session.worktreePath,
    ...(service.kind === "docker"
      ? { shellPath: "docker", shellArgs: ["logs", "--follow", "--tail", "200", ...dockerTarget(session, service)] }
      : { shellPath: "tail", shellArgs: ["-n", "200", "-F", serviceLogFile(root, session.slug, service.name)] }),
  });
  terminal.show(true);
  return terminal;
}

function dockerTarget(session: Session, service: Service): string[] {
  return [`${session.slug}-${service.name}`];
}
