// "Berth: Show Logs": follows a service's log (native or docker) in a pseudo-terminal, through the server's berth/logs
// with follow: the lines arrive as berth/logLine notifications; closing the terminal cancels the request.
import * as vscode from "vscode";
import type { BerthClient } from "./client";
import { LogLineRouter, endText, logToken, terminalText } from "./logLines";
import type { ServiceView, SessionView } from "./protocol.generated";

const routers = new WeakMap<BerthClient, LogLineRouter>();

function routerFor(client: BerthClient): LogLineRouter {
  let router = routers.get(client);
  if (!router) {
    const created = new LogLineRouter();
    client.onNotification("berth/logLine", (line) => created.dispatch(line));
    routers.set(client, created);
    router = created;
  }
  return router;
}

export const LOG_TAIL = 200;

/** Opens (or re-opens) a terminal following the service's log; resolves to it. */
export function showServiceLog(
  client: BerthClient,
  root: string,
  session: SessionView,
  service: ServiceView,
): vscode.Terminal {
  const name = `Berth logs: ${session.slug}/${service.name}`;
  vscode.window.terminals.find((t) => t.name === name)?.dispose();
  const write = new vscode.EventEmitter<string>();
  const cts = new vscode.CancellationTokenSource();
  const token = logToken(session.slug, service.name);
  const route = routerFor(client).add(token, (line) =>
    write.fire(terminalText(line)),
  );
  let closed = false;
  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    open: () => {
      client
        .request(
          "berth/logs",
          {
            root,
            slug: session.slug,
            services: [service.name],
            tail: LOG_TAIL,
            follow: true,
            token,
          },
          cts.token,
        )
        .then(
          (result) => write.fire(endText(result)),
          (e: unknown) => {
            if (!closed)
              write.fire(
                endText(undefined, e instanceof Error ? e.message : String(e)),
              );
          },
        )
        .finally(() => route.dispose());
    },
    close: () => {
      closed = true;
      cts.cancel(); // $/cancelRequest: the server stops following
      route.dispose();
      cts.dispose();
    },
  };
  const terminal = vscode.window.createTerminal({ name, pty });
  terminal.show(true);
  return terminal;
}
