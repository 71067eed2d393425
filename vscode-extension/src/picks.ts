// Quick picks: which branch to bring up, which session or service to act on.
import * as vscode from "vscode";
import { branchChoices, branchNameProblem } from "./branches";
import { currentBranch, localBranches } from "./git";
import type { ServiceView, SessionView } from "./protocol.generated";
import { describeSession } from "./statusView";

interface BranchItem extends vscode.QuickPickItem {
  branch: string;
}

/** Asks for a branch: local branches (the current worktree's first), or a new name typed into the box. */
export async function pickBranch(root: string, folder: string, sessions: readonly SessionView[]): Promise<string | undefined> {
  const [branches, current] = await Promise.all([localBranches(root), currentBranch(folder)]);
  const known: BranchItem[] = branchChoices(branches, current, sessions).map((c) => ({
    label: `$(git-branch) ${c.branch}`,
    description: c.description,
    branch: c.branch,
  }));
  const qp = vscode.window.createQuickPick<BranchItem>();
  qp.title = "Berth: Up";
  qp.placeholder = "Branch to bring up (pick one, or type a new branch name)";
  qp.items = known;
  qp.matchOnDescription = true;
  const typedItem = (value: string): BranchItem[] => {
    const name = value.trim();
    if (!name || known.some((k) => k.branch === name)) return [];
    const problem = branchNameProblem(name);
    return [{ label: `$(add) ${name}`, description: problem ?? "new branch", branch: problem ? "" : name, alwaysShow: true }];
  };
  return new Promise<string | undefined>((resolve) => {
    qp.onDidChangeValue((v) => (qp.items = [...typedItem(v), ...known]));
    qp.onDidAccept(() => {
      const branch = qp.selectedItems[0]?.branch;
      if (!branch) return; // an invalid typed name: keep the box open
      resolve(branch);
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
}

interface SessionItem extends vscode.QuickPickItem {
  session: SessionView;
}

export async function pickSession(sessions: readonly SessionView[], placeholder: string): Promise<SessionView | undefined> {
  if (sessions.length === 0) {
    void vscode.window.showInformationMessage("Berth: no sessions to choose from.");
    return undefined;
  }
  const items: SessionItem[] = sessions.map((s) => ({
    label: s.slug,
    description: describeSession(s),
    detail: s.services.map((svc) => `${svc.name} :${svc.port ?? "-"} ${svc.state}`).join("   "),
    session: s,
  }));
  return (await vscode.window.showQuickPick(items, { title: "Berth", placeHolder: placeholder }))?.session;
}

export async function pickService(session: SessionView): Promise<ServiceView | undefined> {
  if (session.services.length <= 1) return session.services[0];
  const items = session.services.map((svc) => ({ label: svc.name, description: `:${svc.port ?? "-"} ${svc.state}`, svc }));
  return (await vscode.window.showQuickPick(items, { title: `Berth: ${session.slug}`, placeHolder: "Service" }))?.svc;
}

interface CommandItem extends vscode.QuickPickItem {
  command: string;
}

/** The Berth actions (the status-bar item's menu); `busy` lists the operations a Cancel entry would stop. */
export async function pickAction(busy: readonly string[]): Promise<string | undefined> {
  const items: CommandItem[] = [
    ...(busy.length ? [{ label: "$(stop-circle) Cancel", command: "berth.cancel", description: busy.join(", ") }] : []),
    { label: "$(play) Up…", command: "berth.up" },
    { label: "$(trash) Down…", command: "berth.down" },
    { label: "$(debug-stop) Stop…", command: "berth.stop" },
    { label: "$(pulse) Status", command: "berth.status" },
    { label: "$(empty-window) Open Worktree in New Window…", command: "berth.openWorktree" },
    { label: "$(output) Show Logs…", command: "berth.showLogs" },
    { label: "$(history) Recover", command: "berth.recover" },
    { label: "$(debug-restart) Restart Server", command: "berth.restartServer" },
    { label: "$(list-flat) Show Output", command: "berth.showOutput" },
  ];
  return (await vscode.window.showQuickPick(items, { title: "Berth", placeHolder: "Berth action" }))?.command;
}

/** What to do with one session; the command takes the session's slug. */
export async function pickSessionAction(session: SessionView): Promise<string | undefined> {
  const items: CommandItem[] = [
    { label: "$(empty-window) Open Worktree in New Window", command: "berth.openWorktree" },
    { label: "$(output) Show Logs", command: "berth.showLogs" },
    { label: "$(debug-stop) Stop", command: "berth.stop" },
    { label: "$(trash) Down", command: "berth.down" },
  ];
  return (await vscode.window.showQuickPick(items, { title: `Berth: ${session.slug}` }))?.command;
}
