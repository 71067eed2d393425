// The Berth commands. Each one that a test or another command calls takes optional arguments so that it can run
// without a quick pick; without them it asks.
import path from "node:path";
import * as vscode from "vscode";
import { keyLine } from "./berthToml";
import type { BerthClient } from "./client";
import { mapError } from "./errors";
import { currentBranch, isLinkedWorktree } from "./git";
import { runBerthInit } from "./init";
import { showServiceLog } from "./logs";
import { doctorMarkdown, pruneOutcome, pruneQuestion } from "./maintenance";
import type { Notices, Severity } from "./notices";
import type { Operations } from "./operations";
import { pickAction, pickBranch, pickService, pickSession, pickSessionAction, serverBranchChecker } from "./picks";
import type { DoctorReport, DownParams, PruneReport, TeardownReceipt, SessionView } from "./protocol.generated";
import { remedyButtons, type RemedyButton, type RemedyHandlers } from "./remedies";
import type { RollbackTracker } from "./rollback";
import type { BerthServer } from "./server";
import type { SessionStore } from "./sessions";
import { berthRoot, resolveBerth, workspaceFolder } from "./settings";
import { describeSession } from "./statusView";
import { downQuestion, isDownPlan, teardownMessage } from "./teardown";
import { terminalSpec, terminalTargets } from "./sessionTerminal";

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
 * berth.up also takes `{branch, root?, reuseWorktree?, ports?}`, berth.down `{slug, force?}` (force: remove a dirty
 * worktree without asking), berth.showLogs `{slug, service}`.
 */
type Arg = unknown;

/** The button beside every error: the output channel has the server's full message. */
const SHOW_OUTPUT = "Show Output";

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
    register("berth.openTerminal", (arg: Arg) => c.openTerminal(arg)),
    register("berth.recover", () => c.recover()),
    register("berth.doctor", () => c.doctor()),
    register("berth.prune", (arg: Arg) => c.prune(arg)),
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
    const branch = given?.branch ?? text(arg, "branch") ?? (await this.askBranch(client, root));
    if (!branch) return undefined;
    // A stopped session resumes in its kept worktree by itself; reuseWorktree adopts a worktree Berth did not create.
    const reuseWorktree = flag(arg, "reuseWorktree");
    const ports = portsOf(arg);
    try {
      const what = { label: `up ${branch}`, title: `Berth: bringing up ${branch}`, cancellable: true };
      const session = await this.d.ops.run(client, what, (ctx) =>
        client.request("berth/up", { root, branch, reuseWorktree, ports, workDoneToken: ctx.workDoneToken }, ctx.token),
      );
      this.d.store.upsert(session);
      this.d.rollbacks.flush();
      const allocated = Object.entries(session.ports).map(([n, p]) => `${n} :${p}`).join(", ");
      void this.d.notices.show("info", `Berth: ${session.slug} is up (slot ${session.slot}${allocated ? `; ${allocated}` : ""}).`, "Open Worktree")
        .then((a) => a && this.openWorktree(session.slug));
      return session;
    } catch (e) {
      this.report(e, `bring-up of ${branch}`);
      return undefined;
    }
  }

  /**
   * "down" removes the session, asking first when the server reports uncommitted changes in its worktree; "stop"
   * keeps worktree, volumes and built images (what resuming needs).
   */
  async down(arg: Arg, mode: "down" | "stop"): Promise<TeardownReceipt | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const slug = slugOf(arg) ?? (await pickSession(
      this.d.store.list().filter((s) => mode === "down" || s.status !== "stopped"),
      mode === "down" ? "Session to tear down" : "Session to stop (keeps its worktree, volumes and images)",
    ))?.slug;
    if (!slug) return undefined;
    const params: DownParams = mode === "stop"
      ? { root, slug, keepWorktree: true, keepVolumes: true, keepImages: true }
      : { root, slug, force: flag(arg, "force") };
    let keepRequested = mode === "stop";
    const verb = mode === "stop" ? "stopping" : "tearing down";
    try {
      if (mode === "down" && !params.force) {
        // The server's down plan (changes nothing) says what would be removed and kept, and what blocks.
        const plan = await client.request("berth/down", { ...params, dryRun: true });
        const question = isDownPlan(plan) ? downQuestion(plan) : undefined;
        if (question) {
          const choice = await this.d.notices.ask(question.message, question.detail, ...question.actions);
          if (!choice) return undefined;
          // Keep Worktree is a plain down: the server keeps a worktree with uncommitted changes.
          params.force = choice === "Remove Anyway";
          keepRequested = choice === "Keep Worktree";
        }
      }
      const what = { label: `${mode} ${slug}`, title: `Berth: ${verb} ${slug}`, cancellable: false };
      const result = await this.d.ops.run(client, what, (ctx) =>
        client.request("berth/down", { ...params, workDoneToken: ctx.workDoneToken }, ctx.token),
      );
      if (isDownPlan(result)) throw new Error("berth/down answered a plan to a down that was not a dry run");
      const receipt: TeardownReceipt = result;
      this.d.rollbacks.flush();
      await this.refresh();
      const { severity, message } = teardownMessage(receipt, keepRequested);
      this.offer(severity, message, remedyButtons(receipt.kept.flatMap((k) => k.remedies ?? [])));
      return receipt;
    } catch (e) {
      this.report(e, `${mode} of ${slug}`);
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

  /** Resolves to the name of the terminal following the log (native or docker: the server's berth/logs). */
  async showLogs(arg: Arg): Promise<string | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session whose logs to show"));
    if (!session) return undefined;
    const wanted = isObject(arg) && arg.service !== undefined ? serviceName(arg.service) : undefined;
    const service = wanted ? session.services.find((s) => s.name === wanted) : await pickService(session);
    if (!service) {
      void this.d.notices.show("info", `Berth: ${session.slug} has no service${wanted ? ` named ${wanted}` : "s"}.`);
      return undefined;
    }
    return showServiceLog(client, root, session, service).name;
  }

  /**
   * A terminal in the session: in its worktree with its environment, or attached to a docker service's container
   * (`{slug, service}`; without a service argument it asks when the session has docker services). What runs is the
   * server's answer to berth/env. Resolves to the terminal's name.
   */
  async openTerminal(arg: Arg): Promise<string | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const session = sessionOf(arg, this.d.store) ?? (await pickSession(this.d.store.list(), "Session to open a terminal in"));
    if (!session) return undefined;
    let service = isObject(arg) && arg.service !== undefined ? serviceName(arg.service) : undefined;
    if (!(isObject(arg) && "service" in arg)) {
      const targets = terminalTargets(session);
      if (targets.length > 1) {
        const target = await vscode.window.showQuickPick(targets, { title: `Berth: terminal in ${session.slug}`, placeHolder: "Where" });
        if (!target) return undefined;
        service = target.service;
      }
    }
    try {
      const spec = terminalSpec(await client.request("berth/env", { root, slug: session.slug, shell: true, service }));
      if (!spec) return undefined;
      const terminal = vscode.window.createTerminal(spec);
      terminal.show();
      return terminal.name;
    } catch (e) {
      this.report(e, `opening a terminal in ${session.slug}${service ? `/${service}` : ""}`);
      return undefined;
    }
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

  /** Berth: Doctor: the server's checks as a markdown preview; resolves to the report (tests read it). */
  async doctor(): Promise<DoctorReport | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    try {
      const what = { label: "doctor", title: "Berth: running doctor", cancellable: false };
      const report = await this.d.ops.run(client, what, (ctx) => client.request("berth/doctor", { root }, ctx.token));
      const doc = await vscode.workspace.openTextDocument({ language: "markdown", content: doctorMarkdown(report) });
      await vscode.commands.executeCommand("markdown.showPreview", doc.uri);
      return report;
    } catch (e) {
      this.report(e, "doctor");
      return undefined;
    }
  }

  /** Berth: Prune…: the server's plan (dryRun), a modal question, then the prune and its receipt. `{yes: true}`
   * applies without asking (tests); `{volumes: true}` prunes leftover volumes too. */
  async prune(arg: Arg): Promise<PruneReport | undefined> {
    const client = await this.d.server.require();
    const root = await this.root();
    if (!client || !root) return undefined;
    const volumes = flag(arg, "volumes");
    try {
      const plan = await client.request("berth/prune", { root, dryRun: true, volumes });
      if (!plan.plan.length) {
        void this.d.notices.show("info", pruneOutcome(plan).message);
        return plan;
      }
      if (!flag(arg, "yes")) {
        const q = pruneQuestion(plan);
        const answer = await vscode.window.showWarningMessage(q.message, { modal: true, detail: q.detail }, "Prune");
        if (answer !== "Prune") return undefined;
      }
      const what = { label: "prune", title: "Berth: pruning leftovers", cancellable: false };
      const receipt = await this.d.ops.run(client, what, (ctx) =>
        client.request("berth/prune", { root, dryRun: false, volumes }, ctx.token),
      );
      await this.refresh();
      const outcome = pruneOutcome(receipt);
      void this.d.notices.show(outcome.severity, outcome.message);
      return receipt;
    } catch (e) {
      this.report(e, "prune");
      return undefined;
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

  private async askBranch(client: BerthClient, root: string): Promise<string | undefined> {
    const folder = workspaceFolder() ?? root;
    // In a session's (or any linked) worktree, Up means this worktree's branch.
    if (await isLinkedWorktree(folder)) return currentBranch(folder);
    return pickBranch(root, folder, this.d.store.list(), serverBranchChecker(client));
  }

  private async root(): Promise<string | undefined> {
    const root = await berthRoot();
    if (!root) void this.d.notices.show("error", "Berth: open a folder inside a git repository with a berth.toml first.");
    return root;
  }

  /** Shows what went wrong: rollback warnings first, then the server's message and hint, with its remedies. */
  private report(error: unknown, what: string): void {
    this.d.rollbacks.flush();
    const mapped = mapError(error);
    if (mapped.kind === "cancelled") {
      void this.d.notices.show("info", `Berth: the ${what} was cancelled and rolled back.`);
      return;
    }
    this.d.output.error(`${what} failed${mapped.code ? ` (${mapped.code})` : ""}:\n${mapped.detail}`);
    this.offer("error", `Berth: ${mapped.message}`, remedyButtons(mapped.remedies), { showOutput: true });
  }

  /** A toast whose buttons do the server's remedies, then (`showOutput`) one that shows the output channel. */
  private offer(severity: Severity, message: string, buttons: readonly RemedyButton[], { showOutput = false } = {}): void {
    const labels = [...buttons.map((b) => b.label), ...(showOutput ? [SHOW_OUTPUT] : [])];
    void this.d.notices.show(severity, message, ...labels).then(async (label) => {
      if (label === SHOW_OUTPUT) this.d.output.show(true);
      await buttons.find((b) => b.label === label)?.run(this.remedies);
    }).catch((e: unknown) => this.d.output.error(`the action of "${message}" failed: ${String(e)}`));
  }

  /** What remedy buttons do, with these commands. */
  private readonly remedies: RemedyHandlers = {
    up: (request) => this.up(request),
    down: (request) => this.down(request, "down"),
    askPort: async (branch, service) => {
      const value = await vscode.window.showInputBox({
        title: `Berth: port for ${service}`,
        prompt: `Bring ${branch} up with this port for ${service} (used as given, no probing).`,
        placeHolder: "e.g. 3001",
        validateInput: (v) => (portNumber(v) === undefined ? "Type a port number from 1 to 65535." : undefined),
      });
      return value === undefined ? undefined : portNumber(value);
    },
    recover: () => this.recover(),
    listSessions: () => this.status(),
    init: (root, overwrite) => this.init(root, overwrite),
    editConfig: (key) => this.editConfig(key),
    showLog: async (file) => {
      const editor = await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
      const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
      editor.selection = new vscode.Selection(end, end);
      editor.revealRange(new vscode.Range(end, end));
    },
  };

  /** Writes a starter berth.toml with `berth init` (asking before it replaces one) and opens it. */
  private async init(root: string | undefined, overwrite: boolean): Promise<void> {
    const target = root ?? (await berthRoot());
    if (!target) return;
    if (overwrite) {
      const sure = await this.d.notices.ask(`Replace ${path.join(target, "berth.toml")} with a fresh starter file?`,
        "The current berth.toml is overwritten.", "Overwrite");
      if (!sure) return;
    }
    const resolution = await resolveBerth();
    if (!resolution.ok) {
      void this.d.notices.show("error", `Berth: ${resolution.problem}.`);
      return;
    }
    const result = await runBerthInit(resolution.berth, target, overwrite);
    if (!result.ok) {
      this.report(result.error, "init");
      return;
    }
    await vscode.window.showTextDocument(vscode.Uri.file(result.configFile), { preview: false });
    void this.d.notices.show("info", `Berth: wrote ${result.configFile}.`);
  }

  /** Opens berth.toml, with the cursor on `key` when it is given and found. */
  private async editConfig(key: string | undefined): Promise<void> {
    const root = await this.root();
    if (!root) return;
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, "berth.toml")), { preview: false });
    const line = key === undefined ? undefined : keyLine(editor.document.getText(), key);
    if (line === undefined) return;
    const at = new vscode.Position(line, 0);
    editor.selection = new vscode.Selection(at, at);
    editor.revealRange(new vscode.Range(at, at), vscode.TextEditorRevealType.InCenter);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null;
}

function text(arg: unknown, key: string): string | undefined {
  const v = isObject(arg) ? arg[key] : undefined;
  return typeof v === "string" && v ? v : undefined;
}

function flag(arg: unknown, key: string): boolean {
  return isObject(arg) && arg[key] === true;
}

/** `ports: {service: port}` of berth.up's argument (whole numbers only; the server checks the range). */
function portsOf(arg: unknown): Record<string, number> | undefined {
  const ports = isObject(arg) ? arg.ports : undefined;
  if (!isObject(ports)) return undefined;
  const entries = Object.entries(ports).filter((e): e is [string, number] => Number.isInteger(e[1]));
  return entries.length ? Object.fromEntries(entries) : undefined;
}

/** A typed port number (1-65535), or undefined. */
function portNumber(value: string): number | undefined {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** The slug a command was given: a slug, `{slug}` or a tree node. */
function slugOf(arg: unknown): string | undefined {
  return typeof arg === "string" ? arg || undefined : text(arg, "slug");
}

/** The session a command was given, looked up in the store. */
function sessionOf(arg: unknown, store: SessionStore): SessionView | undefined {
  const slug = slugOf(arg);
  return slug ? store.get(slug) : undefined;
}

function serviceName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  return isObject(v) && typeof v.name === "string" ? v.name : undefined;
}
