// The server's remedies (error.data.remedies, a teardown's kept[].remedies) as buttons that do them. Which remedy
// fits is the server's decision; this module only words each one and says what pressing it does. Pure (no vscode
// import): commands.ts supplies the handlers.
import type { RemedyView } from "./protocol.generated";

export interface UpRequest {
  branch: string;
  /** Adopt the branch's existing worktree instead of creating one. */
  reuseWorktree?: boolean;
  /** Fixed ports per service name (no probing). */
  ports?: Record<string, number>;
}

export interface DownRequest {
  slug: string;
  /** Remove the worktree even if it has uncommitted changes. */
  force: boolean;
}

/** What remedy buttons do; commands.ts implements each with the Berth commands. */
export interface RemedyHandlers {
  up(request: UpRequest): Promise<unknown>;
  down(request: DownRequest): Promise<unknown>;
  /** Asks the user for a port for `service`; undefined when they cancel. */
  askPort(branch: string, service: string): Promise<number | undefined>;
  recover(): Promise<unknown>;
  listSessions(): Promise<unknown>;
  /** Writes a starter berth.toml (`berth init`); `overwrite` replaces an existing one (after asking). */
  init(root: string | undefined, overwrite: boolean): Promise<unknown>;
  /** Opens berth.toml, at `key` when one key is at fault. */
  editConfig(key: string | undefined): Promise<unknown>;
  showLog(path: string): Promise<unknown>;
}

export interface RemedyButton {
  label: string;
  run(handlers: RemedyHandlers): Promise<unknown>;
}

/** The button for one remedy, or undefined when it lacks an argument it needs (or the action is unknown). */
export function remedyButton(remedy: RemedyView): RemedyButton | undefined {
  const args = remedy.args ?? {};
  const arg = (name: string): string | undefined => {
    const value = args[name];
    return typeof value === "string" && value ? value : undefined;
  };
  const branch = arg("branch");
  const slug = arg("slug");
  switch (remedy.action) {
    case "up":
      return branch ? { label: `Bring Up ${branch}`, run: (h) => h.up({ branch }) } : undefined;
    case "reuseWorktree":
      return branch ? { label: "Reuse Worktree", run: (h) => h.up({ branch, reuseWorktree: true }) } : undefined;
    case "down":
      return slug ? { label: `Down ${slug}`, run: (h) => h.down({ slug, force: false }) } : undefined;
    case "forceDown":
      return slug ? { label: "Remove Anyway", run: (h) => h.down({ slug, force: true }) } : undefined;
    case "choosePort": {
      const service = arg("service");
      if (!branch || !service) return undefined;
      return {
        label: `Choose Port for ${service}…`,
        run: async (h) => {
          const port = await h.askPort(branch, service);
          return port === undefined ? undefined : h.up({ branch, ports: { [service]: port } });
        },
      };
    }
    case "recover":
      return { label: "Recover", run: (h) => h.recover() };
    case "listSessions":
      return { label: "Show Sessions", run: (h) => h.listSessions() };
    case "init":
      return { label: "Create berth.toml", run: (h) => h.init(arg("root"), false) };
    case "overwriteConfig":
      return { label: "Overwrite berth.toml…", run: (h) => h.init(arg("root"), true) };
    case "editConfig": {
      const key = arg("key");
      return { label: key ? `Open berth.toml (${key})` : "Open berth.toml", run: (h) => h.editConfig(key) };
    }
    case "showLog": {
      const path = arg("path");
      const service = arg("service");
      return path ? { label: service ? `Show ${service} Log` : "Show Log", run: (h) => h.showLog(path) } : undefined;
    }
    default:
      return undefined; // an action of a newer server
  }
}

/** The buttons for a list of remedies, in the server's order, one per label. */
export function remedyButtons(remedies: readonly RemedyView[] | null | undefined): RemedyButton[] {
  const buttons = new Map<string, RemedyButton>();
  for (const remedy of remedies ?? []) {
    const button = remedyButton(remedy);
    if (button && !buttons.has(button.label)) buttons.set(button.label, button);
  }
  return [...buttons.values()];
}
