// The status-bar item: the open folder's session (or a count), live from berth/sessionChanged; a spinner while an
// operation runs; clicking it opens the Berth actions.
import * as vscode from "vscode";
import type { Operations } from "./operations";
import type { BerthServer } from "./server";
import type { SessionStore } from "./sessions";
import { workspaceFolder } from "./settings";
import { statusView } from "./statusView";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("berth.status", vscode.StatusBarAlignment.Left, 50);
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly server: BerthServer, private readonly store: SessionStore, private readonly ops: Operations) {
    this.item.name = "Berth";
    this.item.command = "berth.actions";
    this.subscriptions = [store.onChange(() => this.render()), server.onDidChange(() => this.render()), ops.onDidChange(() => this.render())];
    this.render();
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  render(): void {
    const sessions = this.store.list();
    const view = statusView({
      server: this.server.state,
      sessions,
      folderSession: this.store.forFolder(workspaceFolder()),
      busy: this.ops.labels,
    });
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
