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
    const show = { info: vscode.window.showInformationMessage, warning: vscode.window.showWarningMessage, error: vscode.window.showErrorMessage }[severity];
    ({ info: this.output.info, warning: this.output.warn, error: this.output.error })[severity].call(this.output, message);
    return show<A>(message, ...actions);
  }

  /** A modal question; resolves to the chosen action, or undefined when cancelled. */
  ask<A extends string>(message: string, detail: string, ...actions: A[]): Thenable<A | undefined> {
    return vscode.window.showWarningMessage<A>(message, { modal: true, detail }, ...actions);
  }

  recent(): readonly Notice[] {
    return this.history;
  }
}
