// The Berth commands. Each one that a test or another command calls takes optional arguments so that it can run
// without a quick pick; without them it asks.
import path from "node:path";
import * as vscode from "vscode";
import type { BerthClient } from "./client";
import { mapError, type ErrorAction } from "./errors";
import { isDirty, isLinkedWorktree, currentBranch } from "./git";
import { showServiceLog } from "./logs";
import type { Notices } from "./notices";
import type { Operations } from "./operations";
import { pickBranch, pickService, pickSession } from "./picks";
import type { DownResult, Session } from "./protocol.generated";
import type { RollbackTracker } from "./rollback";
import type { BerthServer } from "./server";
import type { SessionStore } from "./sessions";
import { berthRoot, workspaceFolder } from "./settings";
import { describeSession } from "./statusView";

export interface CommandDeps {
  server: BerthServer;
  store: SessionStore;
  ops: Operations;
  notices: Notices;
  rollbacks: RollbackTracker;
  output: vscode.LogOutputChannel;
}

/** A session given to a command: its slug, a tree node or an object with a slug. */
type SessionArg = string | { slug?: string; session?: Session } | undefined;

export interface UpArgs {
  branch?: string;
  root?: string;
  reuseWorktree?: boolean;
}

export interface DownArgs {
  slug?: string;
  /** Remove a dirty worktree without asking. */
  force?: boolean;
}

export function registerCommands(d: CommandDeps): vscode.Disposable[] {
  const c = new Commands(d);
  const register = (id: string, fn: (...args: never[]) => unknown) => vscode.commands.registerCommand(id, fn);
  return [
    register("berth.up", (arg: UpArgs | SessionArg) => c.up(arg)),
    register("berth.down", (arg: DownArgs | SessionArg) => c.down(arg, "down")),
    register("berth.stop", (arg: SessionArg) => c.down(arg, "stop")),
    register("berth.status", () => c.status()),
    register("berth.openWorktree", (arg: SessionArg) => c.openWorktree(arg)),
    register("berth.showLogs", (arg: SessionArg & { service?: unknown }) => c.showLogs(arg)),
    register("berth.recover", () => c.recover()),
    register("berth.cancel", () => c.cancel()),
    register("berth.refresh", () => c.refresh()),
    register("berth.restartServer", () => d.server.restart()),
    register("berth.showOutput", () => d.output.show(true)),
    register("berth.actions", () => c.actions()),
  ];
}

class Commands {
  constructor(private readonly d: CommandDeps) {}

  /** Resolves to the session brought up, or undefined (cancelled, failed: already reported). */
  async up(arg: UpArgs | SessionArg): Promise<Session | undefined> {
    const client = await this.d.server.require();
    const root = (isObject(arg) && "root" in arg && arg.root) || (await this.root());
    if (!client || !root) return undefined;
    const given = sessionOf(arg, this.d.store);
    const branch = given?.branch ?? (isObject(arg) && "branch" in arg ? arg.branch : undefined) ?? (await this.askBranch(root));
    if (!branch) return undefined;
    const reuseWorktree = (isObject(arg) && "reuseWorktree" in arg && arg.reuseWorktree) || given?.status === "stopped";
    try {
      const session = await this.d.ops.run(client, `up ${branch}`, `Berth: bringing up ${branch}`, (ctx) =>
        client.request("berth/up", { root, branch, reuseWorktree, workDoneToken: ctx.workDoneToken }, ctx.token),
      );
      this.d.store.upsert(session);
      this.d.rollbacks.flush();
      const ports = Object.entries(session.ports).map(([n, p]) => `${n} :${p}`).join(", ");
      void this.d.notices.show("info", `Berth: ${session.slug} is up (slot ${session.slot}${ports ? `; ${ports}` : ""}).`, "Open Worktree")
        .then((a) => a && this.openWorktree(session.slug));
      return session;
    } catch (e) {
      this.report(e, `bring-up of ${branch}`);
      return undefined;
    }
  }

  /** "down" removes the session (asking first when its worktree is dirty); "stop" keeps worktree and volumes. */
  async down(arg: DownArgs | SessionArg, mode: "down" | "stop"): Promise<DownResult | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(
      this.d.store.list().filter((s) => mode === "down" || s.status !== "stopped"),
      mode === "down" ? "Session to tear down" : "Session to stop (keeps its worktree and volumes)",
    ));
    if (!session) return undefined;
    let params = mode === "stop"
      ? { root, slug: session.slug, keepWorktree: true, keepVolumes: true }
      : { root, slug: session.slug, force: isObject(arg) && "force" in arg && arg.force === true };
    if (mode === "down" && !params.force && (await isDirty(session.worktreePath))) {
      const choice = await this.d.notices.ask(
        `The worktree of '${session.slug}' has uncommitted changes.`,
        `${session.worktreePath}\nRemoving it deletes those changes. Keep Worktree tears the session down but leaves the worktree.`,
        "Remove Anyway",
        "Keep Worktree",
      );
      if (!choice) return undefined;
      params = choice === "Remove Anyway" ? { ...params, force: true } : { root, slug: session.slug, keepWorktree: true };
    }
    const verb = mode === "stop" ? "stopping" : "tearing down";
    try {
      const result = await this.d.ops.run(client, `${mode} ${session.slug}`, `Berth: ${verb} ${session.slug}`, (ctx) =>
        client.request("berth/down", params, ctx.token),
      );
      this.d.rollbacks.flush();
      await this.refresh();
      const kept = result.kept.map((k) => `${k.kind} ${k.name} (${k.reason})`);
      const what = mode === "stop" ? "stopped" : "down";
      void this.d.notices.show(kept.length ? "warning" : "info",
        `Berth: ${session.slug} is ${what}${kept.length ? `; kept ${kept.join(", ")}` : ""}.`);
      return result;
    } catch (e) {
      this.report(e, `${mode} of ${session.slug}`);
      return undefined;
    }
  }

  /** Refreshes every session's live health and lists them; resolves to the sessions. */
  async status(): Promise<Session[] | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    try {
      const { sessions } = await client.request("berth/status", { root });
      this.d.store.replaceAll(sessions);
      if (sessions.length === 0) {
        void this.d.notices.show("info", `Berth: no sessions in ${root}.`, "Up");
      } else {
        this.d.output.info(["status:", ...sessions.map((s) => `  ${describeSession(s)}: ${s.services.map((v) => `${v.name} :${v.port ?? "-"} ${v.state}`).join(", ")}`)].join("\n"));
        void pickSession(sessions, "Sessions and their services (pick one for actions)").then((s) => s && this.sessionActions(s));
      }
      return sessions;
    } catch (e) {
      this.report(e, "status");
      return undefined;
    }
  }

  async refresh(): Promise<void> {
    const client = await this.d.server.start();
    const root = await this.root();
    if (!client || !root) return;
    try {
      this.d.store.replaceAll((await client.request("berth/list", { root })).sessions);
    } catch (e) {
      this.report(e, "listing sessions");
    }
  }

  async openWorktree(arg: SessionArg): Promise<void> {
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session whose worktree to open"));
    if (!session) return;
    await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(session.worktreePath), { forceNewWindow: true });
  }

  /** Resolves to the name of the terminal following the log. */
  async showLogs(arg: SessionArg & { service?: unknown }): Promise<string | undefined> {
    const root = await this.root();
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session whose logs to show"));
    if (!session || !root) return undefined;
    const wanted = isObject(arg) && arg.service !== undefined ? serviceName(arg.service) : undefined;
    const service = wanted ? session.services.find((s) => s.name === wanted) : await pickService(session);
    if (!service) {
      void this.d.notices.show("info", `Berth: ${session.slug} has no service${wanted ? ` named ${wanted}` : "s"}.`);
      return undefined;
    }
    return showServiceLog(root, session, service).name;
  }

  async recover(): Promise<void> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return;
    try {
      const report = await this.d.ops.run(client, "recover", "Berth: recovering interrupted operations", (ctx) =>
        client.request("berth/recover", { root }, ctx.token),
      );
      this.d.rollbacks.flush();
      await this.refresh();
      const n = report.operations.length;
      const undone = report.undone.filter((u) => u.state === "undone").map((u) => `${u.slug}: ${u.step}`);
      const message = n === 0
        ? "Berth: nothing to recover."
        : `Berth: recovered ${n} interrupted operation${n === 1 ? "" : "s"}${undone.length ? `; undid ${undone.join(", ")}` : ""}` +
          (report.remaining ? `; ${report.remaining} step(s) still could not be undone (see the output).` : ".");
      void this.d.notices.show(report.remaining ? "warning" : "info", message);
    } catch (e) {
      this.report(e, "recover");
    }
  }

  cancel(): number {
    const n = this.d.ops.cancelAll();
    if (n === 0) void this.d.notices.show("info", "Berth: no operation is running.");
    return n;
  }

  /** The status-bar item's menu. */
  async actions(): Promise<void> {
    const busy = this.d.ops.labels;
    const items: { label: string; command: string; description?: string }[] = [
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
    const pick = await vscode.window.showQuickPick(items, { title: "Berth", placeHolder: "Berth action" });
    if (pick) await vscode.commands.executeCommand(pick.command);
  }

  private async sessionActions(session: Session): Promise<void> {
    const items = [
      { label: "$(empty-window) Open Worktree in New Window", command: "berth.openWorktree" },
      { label: "$(output) Show Logs", command: "berth.showLogs" },
      { label: "$(debug-stop) Stop", command: "berth.stop" },
      { label: "$(trash) Down", command: "berth.down" },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: `Berth: ${session.slug}` });
    if (pick) await vscode.commands.executeCommand(pick.command, session.slug);
  }

  private async askBranch(root: string): Promise<string | undefined> {
    const folder = workspaceFolder() ?? root;
    // In a session's (or any linked) worktree, Up means this worktree's branch.
    if (await isLinkedWorktree(folder)) return currentBranch(folder);
    return pickBranch(root, folder, this.d.store.list());
  }

  private async root(): Promise<string | undefined> {
    const root = await berthRoot();
    if (!root) void this.d.notices.show("error", "Berth: open a folder inside a git repository with a berth.toml first.");
    return root;
  }

  /** Shows what went wrong: rollback warnings first, then the server's message and hint, with an action. */
  private report(error: unknown, what: string): void {
    this.d.rollbacks.flush();
    const mapped = mapError(error);
    if (mapped.kind === "cancelled") {
      void this.d.notices.show("info", `Berth: the ${what} was cancelled and rolled back.`);
      return;
    }
    this.d.output.error(`${what} failed${mapped.code ? ` (${mapped.code})` : ""}:\n${mapped.detail}`);
    void this.d.notices.show("error", `Berth: ${mapped.message}`, ...mapped.actions).then((a) => a && this.runAction(a));
  }

  private async runAction(action: ErrorAction): Promise<void> {
    const root = await berthRoot();
    switch (action) {
      case "Show Logs":
      case "Show Output":
        this.d.output.show(true);
        break;
      case "Show Status":
        await this.status();
        break;
      case "Stop a Session":
        await this.down(undefined, "stop");
        break;
      case "Open berth.toml":
        if (root) await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, "berth.toml")));
        break;
      case "Open Settings":
        await vscode.commands.executeCommand("workbench.action.openSettings", "berth.");
        break;
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

function sessionOf(arg: unknown, store: SessionStore): Session | undefined {
  if (typeof arg === "string") return store.get(arg);
  if (!isObject(arg)) return undefined;
  if (isObject(arg.session)) return arg.session as Session;
  return typeof arg.slug === "string" ? store.get(arg.slug) : undefined;
}

function serviceName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  return isObject(v) && typeof v.name === "string" ? v.name : undefined;
}
