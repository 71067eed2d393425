// The "Berth Sessions" view: sessions, and under each its services with port and state.
import * as vscode from "vscode";
import type { ServiceView, SessionView } from "./protocol.generated";
import type { SessionStore } from "./sessions";
import { sessionTooltip } from "./statusView";

/** Tree nodes are also the arguments the context-menu commands receive. */
type SessionNode = { slug: string; session: SessionView; service?: undefined };
type ServiceNode = { slug: string; session: SessionView; service: ServiceView };
type Node = SessionNode | ServiceNode;

const SESSION_ICON: Record<SessionView["status"], vscode.ThemeIcon> = {
  active: new vscode.ThemeIcon("vm-running", new vscode.ThemeColor("testing.iconPassed")),
  pending: new vscode.ThemeIcon("loading~spin"),
  stopped: new vscode.ThemeIcon("debug-stop"),
};

export class SessionsTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: { dispose(): void };

  constructor(private readonly store: SessionStore) {
    this.subscription = store.onChange(() => this.changed.fire());
  }

  getChildren(node?: Node): Node[] {
    if (!node) return this.store.list().map((session) => ({ slug: session.slug, session }));
    if (node.service) return [];
    return node.session.services.map((service) => ({ slug: node.slug, session: node.session, service }));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.service) {
      const svc = node.service;
      const item = new vscode.TreeItem(svc.name, vscode.TreeItemCollapsibleState.None);
      item.description = `${svc.port ?? "-"} · ${svc.state}`;
      item.tooltip = `${svc.kind} service ${svc.name}\nport ${svc.port ?? "-"}, ${svc.state}${svc.pid ? `, pid ${svc.pid}` : ""}`;
      item.iconPath = new vscode.ThemeIcon(svc.state === "running" ? "pass" : "circle-slash");
      item.contextValue = "berthService";
      return item;
    }
    const s = node.session;
    const item = new vscode.TreeItem(s.slug, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `session:${s.slug}`;
    item.description = `${s.mode} · slot ${s.slot} · ${s.status}`;
    item.tooltip = sessionTooltip(s);
    item.iconPath = SESSION_ICON[s.status];
    item.contextValue = `berthSession.${s.status}`;
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
