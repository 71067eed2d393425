// "Berth: Show Logs": follows a service's log in a terminal.
import path from "node:path";
import * as vscode from "vscode";
import type { ServiceView, SessionView } from "./protocol.generated";

/** Where the server writes a native service's output: <root>/.berth/logs/<slug>/<service>.log. */
export function serviceLogFile(root: string, slug: string, service: string): string {
  return path.join(root, ".berth", "logs", slug, `${service}.log`);
}

/**
 * Opens (or re-opens) a terminal following the service's log: `docker logs` of its container, or `tail -F` of the
 * log file of a native service. Returns the terminal, or undefined for a docker service without a container.
 */
export function showServiceLog(root: string, session: SessionView, service: ServiceView): vscode.Terminal | undefined {
  const follow = service.kind === "docker"
    ? service.container && { shellPath: "docker", shellArgs: ["logs", "--follow", "--tail", "200", service.container] }
    : { shellPath: "tail", shellArgs: ["-n", "200", "-F", serviceLogFile(root, session.slug, service.name)] };
  if (!follow) return undefined;
  const name = `Berth logs: ${session.slug}/${service.name}`;
  vscode.window.terminals.find((t) => t.name === name)?.dispose();
  const terminal = vscode.window.createTerminal({ name, cwd: session.worktreePath, ...follow });
  terminal.show(true);
  return terminal;
}
