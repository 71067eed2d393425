// Every message and question Berth shows the user, also written to the Berth output channel and kept (with its
// buttons) for the test API.
import * as vscode from "vscode";

export type Severity = "info" | "warning" | "error";

export interface Notice {
  /** "question": a modal question (ask()); the others are toasts (show()). */
  severity: Severity | "question";
  message: string;
  /** A question's detail text. */
  detail?: string;
  /** The buttons offered, in order. */
  actions: readonly string[];
  /**
   * Answers as pressing one of `actions` does (undefined: dismissed). For the extension-host tests: there VS Code
   * shows no toasts (the smoke-test driver hides them) and refuses modal dialogs.
   */
  respond(action: string | undefined): void;
}

const HISTORY = 100;

export class Notices {
  private readonly history: Notice[] = [];

  constructor(
    private readonly output: vscode.LogOutputChannel,
    /** False when VS Code refuses modal dialogs (extension tests): questions then wait for respond(). */
    private readonly modalDialogs: boolean,
  ) {}

  /** Shows a toast (not modal; the returned promise settles when the user picks an action or dismisses it). */
  show<A extends string>(severity: Severity, message: string, ...actions: A[]): Promise<A | undefined> {
    const responded = this.record({ severity, message, actions });
    return Promise.race([this.toast(severity, message, actions), responded]);
  }

  /** A modal question; resolves to the chosen action, or undefined when cancelled. */
  ask<A extends string>(message: string, detail: string, ...actions: A[]): Promise<A | undefined> {
    const responded = this.record({ severity: "question", message, detail, actions });
    this.output.info(`asked: ${message} [${actions.join(" | ")}]`);
    if (!this.modalDialogs) return responded;
    return Promise.race([vscode.window.showWarningMessage<A>(message, { modal: true, detail }, ...actions), responded]);
  }

  recent(): readonly Notice[] {
    return this.history;
  }

  /** Shows the toast and writes the message to the output channel. */
  private toast<A extends string>(severity: Severity, message: string, actions: A[]): Thenable<A | undefined> {
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

  /** Keeps the notice; resolves when respond() is called with one of its actions. */
  private record<A extends string>(shown: Omit<Notice, "respond" | "actions"> & { actions: A[] }): Promise<A | undefined> {
    let settle: (action: A | undefined) => void = () => undefined;
    const responded = new Promise<A | undefined>((resolve) => (settle = resolve));
    const isAction = (a: string): a is A => (shown.actions as string[]).includes(a);
    this.history.push({
      ...shown,
      respond: (action) => {
        if (action !== undefined && !isAction(action)) {
          throw new Error(`"${shown.message}" offers ${JSON.stringify(shown.actions)}, not "${action}"`);
        }
        settle(action);
      },
    });
    if (this.history.length > HISTORY) this.history.shift();
    return responded;
  }
}
