// Runs Berth operations with VS Code progress: a notification that follows the server's work-done progress and
// whose Cancel button (or Berth: Cancel) cancels the request, which sends $/cancelRequest.
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import type { BerthClient, ProgressValue } from "./client";

export interface OperationContext {
  /** Pass to the request: cancelling it sends $/cancelRequest. */
  token: vscode.CancellationToken;
  /** Pass as the request's workDoneToken: the server's progress for it shows in the notification. */
  workDoneToken: string;
}

interface Running {
  label: string;
  cancellable: boolean;
  cts: vscode.CancellationTokenSource;
}

export class Operations implements vscode.Disposable {
  private readonly running = new Set<Running>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  /** Labels of the operations in flight, e.g. "up feat-x". */
  get labels(): string[] {
    return [...this.running].map((r) => r.label);
  }

  /** Cancels every cancellable operation in flight; returns how many. */
  cancelAll(): number {
    const cancellable = [...this.running].filter((r) => r.cancellable);
    for (const r of cancellable) r.cts.cancel();
    return cancellable.length;
  }

  /** Only a cancellable operation (a bring-up, which the server rolls back) gets a Cancel button. */
  run<T>(
    client: BerthClient,
    what: { label: string; title: string; cancellable: boolean },
    work: (ctx: OperationContext) => Promise<T>,
  ): Promise<T> {
    const { label, title, cancellable } = what;
    return Promise.resolve(vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title, cancellable },
      async (progress, uiToken) => {
        const entry: Running = { label, cancellable, cts: new vscode.CancellationTokenSource() };
        const workDoneToken = `berth-${randomUUID()}`;
        const subs = [
          uiToken.onCancellationRequested(() => entry.cts.cancel()),
          client.onProgress(workDoneToken, followProgress(progress)),
        ];
        this.running.add(entry);
        this.changed.fire();
        try {
          return await work({ token: entry.cts.token, workDoneToken });
        } finally {
          this.running.delete(entry);
          for (const s of subs) s.dispose();
          entry.cts.dispose();
          this.changed.fire();
        }
      },
    ));
  }

  dispose(): void {
    for (const r of this.running) r.cts.cancel();
    this.changed.dispose();
  }
}

/** Maps $/progress values to VS Code's progress, which takes increments rather than percentages. */
function followProgress(progress: vscode.Progress<{ message?: string; increment?: number }>): (v: ProgressValue) => void {
  let last = 0;
  return (v) => {
    if (v.kind === "end") return;
    const message = v.message ?? (v.kind === "begin" ? v.title : undefined);
    const pct = v.percentage;
    const increment = pct !== undefined && pct > last ? pct - last : undefined;
    if (pct !== undefined) last = Math.max(last, pct);
    progress.report({ message, increment });
  };
}
