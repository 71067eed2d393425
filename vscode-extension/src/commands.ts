// The Berth commands. Each one that a test or another command calls takes optional arguments so that it can run
// without a quick pick; without them it asks.
import path from "node:path";
import * as vscode from "vscode";
import { mapError, type ErrorAction } from "./errors";
import { currentBranch, hasUserChanges, isLinkedWorktree } from "./git";
import { showServiceLog } from "./logs";
import type { Notices } from "./notices";
import type { Operations } from "./operations";
import { pickAction, pickBranch, pickService, pickSession, pickSessionAction } from "./picks";
import type { DownParams, TeardownReceipt, SessionView } from "./protocol.generated";
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

/**
 * Command arguments, all optional (without them the command asks): a session as its slug, `{slug}` or a tree node;
 * berth.up also takes `{branch, root?, reuseWorktree?}`, berth.down `{slug, force?}` (force: remove a dirty worktree
 * without asking), berth.showLogs `{slug, service}`.
 */
type Arg = unknown;

export function registerCommands(d: CommandDeps): vscode.Disposable[] {
  const c = new Commands(d);
  const register = (id: string, fn: (...args: never[]) => unknown) => vscode.commands.registerCommand(id, fn);
  return [
    register("berth.up", (arg: Arg) => c.up(arg)),
    register("berth.down", (arg: Arg) => c.down(arg, "down")),
    register("berth.stop", (arg: Arg) => c.down(arg, "stop")),
    register("berth.status", () => c.status()),
    register("berth.openWorktree", (arg: Arg) => c.openWorktree(arg)),
    register("berth.showLogs", (arg: Arg) => c.showLogs(arg)),
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
  async up(arg: Arg): Promise<SessionView | undefined> {
    const client = await this.d.server.require();
    const given = sessionOf(arg, this.d.store);
    const root = text(arg, "root") ?? (await this.root());
    if (!client || !root) return undefined;
    const branch = given?.branch ?? text(arg, "branch") ?? (await this.askBranch(root));
    if (!branch) return undefined;
    // A stopped session resumes in its kept worktree by itself; reuseWorktree adopts a worktree Berth did not create.
    const reuseWorktree = isObject(arg) && arg.reuseWorktree === true;
    try {
      const what = { label: `up ${branch}`, title: `Berth: bringing up ${branch}`, cancellable: true };
      const session = await this.d.ops.run(client, what, (ctx) =>
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
  async down(arg: Arg, mode: "down" | "stop"): Promise<TeardownReceipt | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(
      this.d.store.list().filter((s) => mode === "down" || s.status !== "stopped"),
      mode === "down" ? "Session to tear down" : "Session to stop (keeps its worktree and volumes)",
    ));
    if (!session) return undefined;
    let params: DownParams = mode === "stop"
      ? { root, slug: session.slug, keepWorktree: true, keepVolumes: true }
      : { root, slug: session.slug, force: isObject(arg) && arg.force === true };
    const berthFiles = [path.relative(session.worktreePath, session.envFile), `${path.relative(session.worktreePath, session.envFile)}.tmp`];
    if (mode === "down" && !params.force && (await hasUserChanges(session.worktreePath, root, berthFiles))) {
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
      const what = { label: `${mode} ${session.slug}`, title: `Berth: ${verb} ${session.slug}`, cancellable: false };
      const result = await this.d.ops.run(client, what, (ctx) =>
        client.request("berth/down", { ...params, workDoneToken: ctx.workDoneToken }, ctx.token),
      );
      this.d.rollbacks.flush();
      await this.refresh();
      const kept = result.kept.map((k) => `${k.kind} ${k.name} (${k.reason})`);
      const state = mode === "stop" ? "stopped" : "down";
      // Something kept that nobody asked to keep (a dirty worktree the server refused to delete) is a warning.
      void this.d.notices.show(kept.length && !params.keepWorktree ? "warning" : "info",
        `Berth: ${session.slug} is ${state}${kept.length ? `; kept ${kept.join(", ")}` : ""}.`);
      return result;
    } catch (e) {
      this.report(e, `${mode} of ${session.slug}`);
      return undefined;
    }
  }

  /** Refreshes every session's live health and lists them; resolves to the sessions. */
  async status(): Promise<SessionView[] | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    try {
      const { sessions } = await client.request("berth/status", { root });
      this.d.store.replaceAll(sessions);
      if (sessions.length === 0) {
        void this.d.notices.show("info", `Berth: no sessions in ${root}.`, "Up").then((a) => a && this.up(undefined));
      } else {
        this.d.output.info(["status:", ...sessions.map((s) => `  ${describeSession(s)}: ${s.services.map((v) => `${v.name} :${v.port ?? "-"} ${v.state}`).join(", ")}`)].join("\n"));
        void pickSession(sessions, "Sessions and their services (pick one for actions)")
          .then((s) => s && pickSessionAction(s).then((command) => command && vscode.commands.executeCommand(command, s.slug)));
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

  async openWorktree(arg: Arg): Promise<void> {
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session whose worktree to open"));
    if (!session) return;
    await vscode.commands.executeCommand("vscode.openFolder", vscode.Uri.file(session.worktreePath), { forceNewWindow: true });
  }

  /** Resolves to the name of the terminal following the log. */
  async showLogs(arg: Arg): Promise<string | undefined> {
    const root = await this.root();
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session whose logs to show"));
    if (!session || !root) return undefined;
    const wanted = isObject(arg) && arg.service !== undefined ? serviceName(arg.service) : undefined;
    const service = wanted ? session.services.find((s) => s.name === wanted) : await pickService(session);
    if (!service) {
      void this.d.notices.show("info", `Berth: ${session.slug} has no service${wanted ? ` named ${wanted}` : "s"}.`);
      return undefined;
    }
    const terminal = showServiceLog(root, session, service);
    if (!terminal) void this.d.notices.show("info", `Berth: ${service.name} of ${session.slug} has no container yet.`);
    return terminal?.name;
  }

  async recover(): Promise<void> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return;
    try {
      const what = { label: "recover", title: "Berth: recovering interrupted operations", cancellable: false };
      const report = await this.d.ops.run(client, what, (ctx) => client.request("berth/recover", { root }, ctx.token));
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
    if (n === 0) void this.d.notices.show("info", "Berth: no bring-up is running.");
    return n;
  }

  /** The status-bar item's menu. */
  async actions(): Promise<void> {
    const command = await pickAction(this.d.ops.labels);
    if (command) await vscode.commands.executeCommand(command);
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

function text(arg: unknown, key: string): string | undefined {
  const v = isObject(arg) ? arg[key] : undefined;
  return typeof v === "string" && v ? v : undefined;
}

/** The session a command was given (a slug, `{slug}` or a tree node), looked up in the store. */
function sessionOf(arg: unknown, store: SessionStore): SessionView | undefined {
  const slug = typeof arg === "string" ? arg : text(arg, "slug");
  return slug ? store.get(slug) : undefined;
}

function serviceName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  return isObject(v) && typeof v.name === "string" ? v.name : undefined;
}
