// Starts, restarts and stops `berth serve`, honouring workspace trust (hooks are code: an untrusted workspace
// runs nothing).
import * as vscode from "vscode";
import { BerthClient } from "./client";
import type { Notices } from "./notices";
import { PROTOCOL_VERSION } from "./protocol.generated";
import { berthArgs } from "./serverCommand";
import { berthRoot, resolveBerth } from "./settings";
import type { ServerState } from "./statusView";

const TRUST_MESSAGE = "Berth runs nothing in an untrusted workspace (its hooks are code); trust the workspace to use it.";

export class BerthServer implements vscode.Disposable {
  private client: BerthClient | undefined;
  private starting: Promise<BerthClient | undefined> | undefined;
  private subscriptions: vscode.Disposable[] = [];
  private problem = "";
  private current: ServerState = "stopped";
  private readonly changed = new vscode.EventEmitter<ServerState>();
  /** Fires with the new state; "running" also after the language client restarted a crashed server. */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    /** Where the language client writes JSON-RPC traces (berth.trace.server). */
    private readonly trace: vscode.LogOutputChannel,
    private readonly notices: Notices,
    /** Subscriptions to make on every new client (notification handlers). */
    private readonly wire: (client: BerthClient) => vscode.Disposable[],
  ) {}

  get state(): ServerState {
    return this.current;
  }

  get protocolVersion(): number | undefined {
    return this.client?.protocolVersion;
  }

  /** Starts the server unless it runs; resolves to undefined when it cannot run (explain() says why). */
  start(): Promise<BerthClient | undefined> {
    if (!vscode.workspace.isTrusted) {
      this.setState("untrusted");
      return Promise.resolve(undefined);
    }
    if (this.client?.running) return Promise.resolve(this.client);
    this.starting ??= this.relaunch().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Restarts the server (a setting changed, or the user asked); says why when it cannot run. */
  async restart(): Promise<BerthClient | undefined> {
    await this.stop();
    return this.require();
  }

  async stop(): Promise<void> {
    await this.starting;
    await this.dropClient();
    this.setState("stopped");
  }

  /** The running client for a command; when there is none, says why and resolves to undefined. */
  async require(): Promise<BerthClient | undefined> {
    const client = await this.start();
    if (!client) this.explain();
    return client;
  }

  /** Tells the user why the server does not run, with a way out. */
  explain(): void {
    if (this.current === "untrusted") {
      void this.notices.show("warning", TRUST_MESSAGE, "Manage Workspace Trust").then((a) => {
        if (a) void vscode.commands.executeCommand("workbench.trust.manage");
      });
      return;
    }
    const problem = this.problem || "Berth: the server is not running.";
    void this.notices.show("error", problem, "Open Settings", "Show Output").then((a) => {
      if (a === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "berth.");
      if (a === "Show Output") this.output.show(true);
    });
  }

  dispose(): void {
    void this.stop();
    this.changed.dispose();
  }

  /** Drops a client the language client gave up restarting, then launches a new one. */
  private async relaunch(): Promise<BerthClient | undefined> {
    if (this.client) await this.dropClient();
    this.setState("starting");
    const resolution = await resolveBerth();
    if (!resolution.ok) {
      this.problem = `Berth: ${resolution.problem}.`;
      this.setState("missing");
      return undefined;
    }
    const { berth } = resolution;
    this.output.info(`starting ${berth.command} ${berthArgs(berth, "serve").join(" ")} over stdio (from ${berth.source})`);
    let client: BerthClient;
    try {
      client = await BerthClient.start(berth, await berthRoot(), this.output, this.trace);
    } catch (e) {
      this.problem = `Berth: the server (${berth.command}) did not start: ${e instanceof Error ? e.message : String(e)}.`;
      this.setState("stopped");
      return undefined;
    }
    this.client = client;
    this.subscriptions = [
      ...this.wire(client),
      client.onStateChange((running) => {
        if (this.client === client) this.setState(running ? "running" : "stopped");
      }),
    ];
    const version = client.protocolVersion;
    this.output.info(`${client.serverName} is running (protocol ${version ?? "unknown"})`);
    if (version !== PROTOCOL_VERSION) {
      void this.notices.show(
        "warning",
        `Berth: the server speaks protocol ${version ?? "(none)"} but this extension was built for ${PROTOCOL_VERSION}; update one of them.`,
      );
    }
    this.setState("running");
    return client;
  }

  private async dropClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    for (const s of this.subscriptions) s.dispose();
    this.subscriptions = [];
    await client?.stop().catch((e: unknown) => this.output.warn(`stopping the berth server: ${String(e)}`));
  }

  private setState(state: ServerState): void {
    this.current = state;
    this.changed.fire(state);
  }
}
