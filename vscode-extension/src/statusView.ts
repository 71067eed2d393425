// What the status-bar item says. Pure: statusBar.ts renders it.
import type { SessionView } from "./protocol.generated";

export type ServerState = "starting" | "running" | "stopped" | "untrusted" | "missing";

export interface StatusInput {
  server: ServerState;
  sessions: readonly SessionView[];
  /** The session whose worktree is the open folder, if any. */
  folderSession: SessionView | undefined;
  /** Labels of the operations in flight, e.g. "up feat-x". */
  busy: readonly string[];
}

export interface StatusView {
  text: string;
  tooltip: string;
}

const ICON: Record<SessionView["status"], string> = {
  active: "$(vm-running)",
  pending: "$(vm-outline)",
  stopped: "$(debug-stop)",
};

export function describeSession(s: SessionView): string {
  return `${s.slug} · ${s.mode} · slot ${s.slot} · ${s.status}`;
}

function serviceLine(svc: SessionView["services"][number]): string {
  return `  ${svc.name}: ${svc.port ?? "-"} (${svc.state})`;
}

export function sessionTooltip(s: SessionView): string {
  return [`${s.slug} (branch ${s.branch})`, `${s.mode} mode, slot ${s.slot}, ${s.status}`, s.worktreePath,
    `env file ${s.envFile}`, ...s.services.map(serviceLine)].join("\n");
}

export function statusView(input: StatusInput): StatusView {
  const click = "\nClick for Berth actions.";
  if (input.server === "untrusted") {
    return { text: "$(workspace-untrusted) Berth", tooltip: "Berth runs nothing in an untrusted workspace (hooks are code)." };
  }
  if (input.server === "missing") {
    return { text: "$(error) Berth: no server", tooltip: `The berth server was not found; set berth.serverPath.${click}` };
  }
  if (input.busy.length > 0) {
    return { text: `$(sync~spin) Berth: ${input.busy.join(", ")}…`, tooltip: `Running: ${input.busy.join(", ")}.${click}` };
  }
  if (input.server === "starting") return { text: "$(sync~spin) Berth", tooltip: "Starting the berth server…" };
  if (input.server === "stopped") return { text: "$(debug-disconnect) Berth", tooltip: `The berth server is not running.${click}` };
  const shown = input.folderSession ?? (input.sessions.length === 1 ? input.sessions[0] : undefined);
  if (shown) {
    return { text: `${ICON[shown.status]} Berth: ${describeSession(shown)}`, tooltip: sessionTooltip(shown) + click };
  }
  const n = input.sessions.length;
  if (n === 0) return { text: "$(server-environment) Berth: no sessions", tooltip: `No Berth sessions.${click}` };
  const active = input.sessions.filter((s) => s.status === "active").length;
  return {
    text: `$(server-environment) Berth: ${n} sessions (${active} active)`,
    tooltip: input.sessions.map(describeSession).join("\n") + click,
  };
}
