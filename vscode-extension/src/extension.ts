// Activation: wires the server, the session store, the status bar, the tree view and the commands.
import * as vscode from "vscode";
import { typedBranchChoice, type TypedBranchChoice } from "./branches";
import { registerCommands } from "./commands";
import { Notices, type Notice } from "./notices";
import { Operations } from "./operations";
import { serverBranchChecker } from "./picks";
import type { SessionView } from "./protocol.generated";
import { RollbackTracker, rollbackMessage } from "./rollback";
import { BerthServer } from "./server";
import { SessionStore } from "./sessions";
import { SessionsTree } from "./sessionsTree";
import { needsRestart } from "./settings";
import { StatusBar } from "./statusBar";
import { TraceChannel } from "./trace";
import type { ServerState } from "./statusView";

/** What activate() returns; the extension-host tests read the extension's state through it. */
export interface BerthApi {
  /** Resolves once the server is running (true) or could not start (false). */
  ready(): Promise<boolean>;
  serverState(): ServerState;
  protocolVersion(): number | undefined;
  sessions(): SessionView[];
  statusBarText(): string;
  /** Recent messages and questions, with their buttons; respond() presses one. */
  notices(): readonly Notice[];
  /** What Berth: Up's branch pick shows for a typed name (the server's berth/checkBranch); undefined without a server. */
  typedBranch(name: string): Promise<TypedBranchChoice | undefined>;
}

export function activate(context: vscode.ExtensionContext): BerthApi {
  const output = vscode.window.createOutputChannel("Berth", { log: true });
  // Extension tests run with VS Code refusing modal dialogs; their questions are answered through the API.
  const notices = new Notices(output, context.extensionMode !== vscode.ExtensionMode.Test);
  const store = new SessionStore();
  const ops = new Operations();
  const rollbacks = new RollbackTracker((summary) => {
    void notices.show("warning", rollbackMessage(summary), "Show Output").then((a) => a && output.show(true));
  });
  const trace = new TraceChannel(output);
  const server = new BerthServer(output, trace, notices, (client) => [
    client.onNotification("berth/sessionChanged", (change) => store.apply(change)),
    client.onNotification("berth/rollback", (p) => rollbacks.record(p)),
  ]);
  const statusBar = new StatusBar(server, store, ops);
  const tree = new SessionsTree(store);

  context.subscriptions.push(
    output,
    trace,
    ops,
    rollbacks,
    statusBar,
    tree,
    server,
    vscode.window.registerTreeDataProvider("berth.sessions", tree),
    ...registerCommands({ server, store, ops, notices, rollbacks, output }),
    // Every (re)start of the server, including the language client's own restarts, reloads the session list.
    server.onDidChange((state) => {
      if (state === "running") void vscode.commands.executeCommand("berth.refresh");
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (needsRestart(e)) void server.restart();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void server.require()),
  );
  const started = server.start().then((client) => {
    // An untrusted workspace is shown in the status bar; anything else that stops the server deserves a message.
    if (!client && server.state !== "untrusted") server.explain();
    return client;
  });
  stopServer = () => server.stop();

  return {
    ready: async () => (await started) !== undefined && server.state === "running",
    serverState: () => server.state,
    protocolVersion: () => server.protocolVersion,
    sessions: () => store.list(),
    statusBarText: () => statusBar.text,
    notices: () => notices.recent(),
    typedBranch: async (name) => {
      const client = await server.start();
      return client && typedBranchChoice(await serverBranchChecker(client)(name));
    },
  };
}

let stopServer: (() => Promise<void>) | undefined;

/** Stops the server cleanly (shutdown/exit) before VS Code disposes the subscriptions. */
export function deactivate(): Promise<void> | undefined {
  return stopServer?.();
}
