// Quick picks: which branch to bring up, which session or service to act on.
import * as vscode from "vscode";
import { branchChoices, typedBranchChoice } from "./branches";
import type { BerthClient } from "./client";
import { mapError } from "./errors";
import { currentBranch, localBranches } from "./git";
import type { BranchCheck, ServiceView, SessionView } from "./protocol.generated";
import { describeSession } from "./statusView";

interface BranchItem extends vscode.QuickPickItem {
  branch: string;
  /** A name typed into the box (not a local branch): accepted only once the server says it is valid. */
  typed: boolean;
}

/** The server's verdict on a typed branch name; never rejects. */
export type BranchChecker = (branch: string) => Promise<BranchCheck>;

/** Asks berth/checkBranch; a failed request is a refusal that says why. */
export function serverBranchChecker(client: BerthClient): BranchChecker {
  return async (branch) => {
    try {
      return await client.request("berth/checkBranch", { branch });
    } catch (e) {
      const mapped = mapError(e);
      return { branch, valid: false, problem: `could not check the name: ${mapped.kind === "error" ? mapped.message : "cancelled"}` };
    }
  };
}

/**
 * Asks for a branch: local branches (the current worktree's first), or a new name typed into the box, which the
 * server checks as it is typed; a name it refuses shows why and cannot be accepted.
 */
export async function pickBranch(
  root: string,
  folder: string,
  sessions: readonly SessionView[],
  checkBranch: BranchChecker,
): Promise<string | undefined> {
  const [branches, current] = await Promise.all([localBranches(root), currentBranch(folder)]);
  const known: BranchItem[] = branchChoices(branches, current, sessions).map((c) => ({
    label: `$(git-branch) ${c.branch}`,
    description: c.description,
    branch: c.branch,
    typed: false,
  }));
  const checks = new Map<string, Promise<BranchCheck>>();
  const check = (name: string): Promise<BranchCheck> => {
    let verdict = checks.get(name);
    if (!verdict) checks.set(name, (verdict = checkBranch(name)));
    return verdict;
  };
  const qp = vscode.window.createQuickPick<BranchItem>();
  qp.title = "Berth: Up";
  qp.placeholder = "Branch to bring up (pick one, or type a new branch name)";
  qp.items = known;
  qp.matchOnDescription = true;
  const showTyped = (name: string, verdict: BranchCheck | undefined) => {
    const item = { label: `$(add) ${name}`, description: typedBranchChoice(verdict).description, branch: name, typed: true, alwaysShow: true };
    qp.items = [item, ...known];
  };
  return new Promise<string | undefined>((resolve) => {
    qp.onDidChangeValue(async (value) => {
      const name = value.trim();
      if (!name || known.some((k) => k.branch === name)) {
        qp.items = known;
        return;
      }
      showTyped(name, undefined);
      const verdict = await check(name);
      if (qp.value.trim() === name) showTyped(name, verdict);
    });
    qp.onDidAccept(async () => {
      const item = qp.selectedItems[0];
      if (!item) return;
      if (item.typed && !typedBranchChoice(await check(item.branch)).acceptable) return; // keep the box open
      resolve(item.branch);
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
    { label: "$(terminal) Open Terminal in Session…", command: "berth.openTerminal" },
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
    { label: "$(terminal) Open Terminal", command: "berth.openTerminal" },
    { label: "$(debug-stop) Stop", command: "berth.stop" },
    { label: "$(trash) Down", command: "berth.down" },
  ];
  return (await vscode.window.showQuickPick(items, { title: `Berth: ${session.slug}` }))?.command;
}
