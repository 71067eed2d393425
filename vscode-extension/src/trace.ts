// berth.trace.server. vscode-languageclient traces JSON-RPC traffic only into a LogOutputChannel whose level is
// Trace; this channel reports Trace exactly when the setting is "messages" or "verbose" and writes the traces into
// the Berth output channel, so that the setting alone turns tracing on and off, live.
import * as vscode from "vscode";

export class TraceChannel implements vscode.LogOutputChannel {
  private readonly changed = new vscode.EventEmitter<vscode.LogLevel>();
  readonly onDidChangeLogLevel = this.changed.event;
  private readonly subscription: vscode.Disposable;
  logLevel = traceLevel();

  constructor(private readonly output: vscode.LogOutputChannel) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration("berth.trace.server")) return;
      this.logLevel = traceLevel();
      this.changed.fire(this.logLevel);
    });
  }

  get name(): string {
    return this.output.name;
  }

  trace(message: string): void {
    this.output.info(`[trace] ${message}`);
  }

  debug(message: string, ...args: unknown[]): void {
    this.output.debug(message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    this.output.info(message, ...args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.output.warn(message, ...args);
  }

  error(error: string | Error, ...args: unknown[]): void {
    this.output.error(error, ...args);
  }

  append(value: string): void {
    this.output.append(value);
  }

  appendLine(value: string): void {
    this.output.appendLine(value);
  }

  replace(value: string): void {
    this.output.replace(value);
  }

  clear(): void {
    this.output.clear();
  }

  show(columnOrPreserveFocus?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    this.output.show(typeof columnOrPreserveFocus === "boolean" ? columnOrPreserveFocus : preserveFocus);
  }

  hide(): void {
    this.output.hide();
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function traceLevel(): vscode.LogLevel {
  const setting = vscode.workspace.getConfiguration("berth").get<string>("trace.server", "off");
  return setting === "off" ? vscode.LogLevel.Off : vscode.LogLevel.Trace;
}
