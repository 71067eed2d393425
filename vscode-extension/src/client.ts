// The language client that runs `berth serve --stdio`, with typed requests and notifications.
import type * as vscode from "vscode";
import {
  LanguageClient,
  RevealOutputChannelOn,
  State,
  TransportKind,
  WorkDoneProgress,
  type CancellationToken,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";
import type { BerthNotifications, BerthRequests } from "./protocol.generated";
import { berthArgs, type BerthCommand } from "./serverCommand";

export type ProgressValue = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

export type RequestMethod = keyof BerthRequests;
export type NotificationMethod = keyof BerthNotifications;

export class BerthClient {
  private constructor(private readonly client: LanguageClient) {}

  /** Starts `berth serve --stdio` in `cwd` and completes the LSP handshake. */
  static async start(
    berth: BerthCommand,
    cwd: string | undefined,
    output: vscode.LogOutputChannel,
    trace: vscode.LogOutputChannel,
  ): Promise<BerthClient> {
    const client = new LanguageClient(
      "berth",
      "Berth",
      // TransportKind.stdio appends --stdio to the arguments.
      { command: berth.command, args: berthArgs(berth, "serve"), transport: TransportKind.stdio, options: { cwd, env: process.env } },
      {
        documentSelector: [],
        outputChannel: output,
        traceOutputChannel: trace,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        connectionOptions: { maxRestartCount: 3 },
      },
    );
    await client.start();
    return new BerthClient(client);
  }

  get running(): boolean {
    return this.client.state === State.Running;
  }

  /** `capabilities.experimental.berth.protocolVersion` from the server's initialize result. */
  get protocolVersion(): number | undefined {
    const experimental = this.client.initializeResult?.capabilities.experimental as
      | { berth?: { protocolVersion?: unknown } }
      | undefined;
    const v = experimental?.berth?.protocolVersion;
    return typeof v === "number" ? v : undefined;
  }

  get serverName(): string {
    const info = this.client.initializeResult?.serverInfo;
    return info ? `${info.name} ${info.version ?? ""}`.trim() : "berth";
  }

  request<M extends RequestMethod>(
    method: M,
    params: BerthRequests[M]["params"],
    token?: CancellationToken,
  ): Promise<BerthRequests[M]["result"]> {
    // An undefined token must not be passed on: the client would send [params, null] as positional params.
    return token ? this.client.sendRequest(method, params, token) : this.client.sendRequest(method, params);
  }

  onNotification<N extends NotificationMethod>(method: N, handler: (params: BerthNotifications[N]) => void): vscode.Disposable {
    return this.client.onNotification(method, handler);
  }

  onProgress(token: string, handler: (value: ProgressValue) => void): vscode.Disposable {
    return this.client.onProgress(WorkDoneProgress.type, token, handler);
  }

  /** Fires true when the server runs (also after the client restarted it), false when it stopped. */
  onStateChange(handler: (running: boolean) => void): vscode.Disposable {
    return this.client.onDidChangeState((e) => {
      if (e.newState !== State.Starting) handler(e.newState === State.Running);
    });
  }

  async stop(): Promise<void> {
    if (this.client.state !== State.Stopped) await this.client.stop(5000);
  }
}
