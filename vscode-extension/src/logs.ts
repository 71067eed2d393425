// "Berth: Show Logs": follows a service's log in a terminal.
import * as vscode from "vscode";
import type { ServiceView, SessionView } from "./protocol.generated";

/**
 * Opens (or re-opens) a terminal following the service's log: `docker logs` of its container, or `tail -F` of the
 * file the server writes a native service's output to (its logPath). Returns the terminal, or undefined when the
 * service has neither yet.
 */
export function showServiceLog(session: SessionView, service: ServiceView): vscode.Terminal | undefined {
  const follow = service.container
    ? { shellPath: "docker", shellArgs: ["logs", "--follow", "--tail", "200", service.container] }
    : service.logPath
      ? { shellPath: "tail", shellArgs: ["-n", "200", "-F", service.logPath] }
      : undefined;
  if (!follow) return undefined;
  const name = `Berth logs: ${session.slug}/${service.name}`;
  vscode.window.terminals.find((t) => t.name === name)?.dispose();
  const terminal = vscode.window.createTerminal({ name, cwd: session.worktreePath, ...follow });
  terminal.show(true);
  return terminal;
}
