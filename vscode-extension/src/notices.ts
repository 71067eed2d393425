// Every message Berth shows the user, also written to the Berth output channel and kept for the test API.
import * as vscode from "vscode";

export type Severity = "info" | "warning" | "error";

export interface Notice {
  severity: Severity;
  message: string;
}

const HISTORY = 100;

export class Notices {
  private readonly history: Notice[] = [];

  constructor(private readonly output: vscode.LogOutputChannel) {}

  /** Shows a toast (not modal; the returned promise settles when the user picks an action or dismisses it). */
  show<A extends string>(severity: Severity, message: string, ...actions: A[]): Thenable<A | undefined> {
    this.history.push({ severity, message });
    if (this.history.length > HISTORY) this.history.shift();
    switch (severity) {
      case "info":
        this.output.info(message);
        return vscode.window.showInformationMessage(message, ...actions);
      case "warning":
        this.output.warn(message);
        return vscode.window.showWarningMessage(message, ...actions);
      case "error":
        this.output.error(message);
        return vscode.window.showErrorMessage(message, ...actions);
    }
  }

  /** A modal question; resolves to the chosen action, or undefined when cancelled. */
  ask<A extends string>(message: string, detail: string, ...actions: A[]): Thenable<A | undefined> {
    return vscode.window.showWarningMessage<A>(message, { modal: true, detail }, ...actions);
  }

  recent(): readonly Notice[] {
    return this.history;
  }
}
