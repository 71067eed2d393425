// The sessions this window knows about, kept current from berth/list and berth/sessionChanged.
// Pure (no vscode import) so that the status-bar and tree logic can be unit-tested.
import type { SessionView, SessionChangedNotification } from "./protocol.generated";

export type Listener = () => void;

export class SessionStore {
  private readonly sessions = new Map<string, SessionView>();
  private readonly listeners = new Set<Listener>();

  list(): SessionView[] {
    return [...this.sessions.values()].sort((a, b) => a.slot - b.slot || a.slug.localeCompare(b.slug));
  }

  get(slug: string): SessionView | undefined {
    return this.sessions.get(slug);
  }

  /** The session whose worktree is the given folder (or contains it). */
  forFolder(folder: string | undefined): SessionView | undefined {
    if (!folder) return undefined;
    const norm = stripSlash(folder);
    return this.list().find((s) => norm === stripSlash(s.worktreePath) || norm.startsWith(`${stripSlash(s.worktreePath)}/`));
  }

  replaceAll(sessions: readonly SessionView[]): void {
    this.sessions.clear();
    for (const s of sessions) this.sessions.set(s.slug, s);
    this.emit();
  }

  upsert(session: SessionView): void {
    this.sessions.set(session.slug, session);
    this.emit();
  }

  remove(slug: string): void {
    if (this.sessions.delete(slug)) this.emit();
  }

  /** Applies a berth/sessionChanged notification. */
  apply(change: SessionChangedNotification): void {
    if (change.status === "removed") {
      this.remove(change.slug);
    } else if (change.session) {
      this.upsert(change.session);
    } else {
      const known = this.sessions.get(change.slug);
      if (known) this.upsert({ ...known, status: change.status });
    }
  }

  onChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}

function stripSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}
