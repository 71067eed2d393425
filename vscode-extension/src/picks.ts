// Quick picks: which branch to bring up, which session or service to act on.
import * as vscode from "vscode";
import { branchChoices, branchNameProblem } from "./branches";
import { currentBranch, localBranches } from "./git";
import type { Service, Session } from "./protocol.generated";
import { describeSession } from "./statusView";

interface BranchItem extends vscode.QuickPickItem {
  branch: string;
}

/** Asks for a branch: local branches (the current worktree's first), or a new name typed into the box. */
export async function pickBranch(root: string, folder: string, sessions: readonly Session[]): Promise<string | undefined> {
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
  session: Session;
}

export async function pickSession(sessions: readonly Session[], placeholder: string): Promise<Session | undefined> {
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

export async function pickService(session: Session): Promise<Service | undefined> {
  if (session.services.length <= 1) return session.services[0];
  const items = session.services.map((svc) => ({ label: svc.name, description: `:${svc.port ?? "-"} ${svc.state}`, svc }));
  return (await vscode.window.showQuickPick(items, { title: `Berth: ${session.slug}`, placeHolder: "Service" }))?.svc;
}
