// Collects berth/rollback notifications per operation and words them as one warning. No vscode import.
import type { RollbackNotification } from "./protocol.generated";

export interface RollbackSummary {
  slug: string;
  opId: string;
  undone: string[];
  failed: { step: string; detail: string | undefined }[];
}

/**
 * Groups the notifications of each operation and reports each group once: when `flush()` is called (the request
 * that caused the rollback has answered) or after `quietMs` without news (a rollback nobody here asked for).
 */
export class RollbackTracker {
  private readonly ops = new Map<string, RollbackSummary>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly report: (summary: RollbackSummary) => void,
    private readonly quietMs = 1000,
  ) {}

  record(p: RollbackNotification): void {
    let op = this.ops.get(p.opId);
    if (!op) {
      op = { slug: p.slug, opId: p.opId, undone: [], failed: [] };
      this.ops.set(p.opId, op);
    }
    if (p.state === "undone") op.undone.push(p.step);
    if (p.state === "failed") op.failed.push({ step: p.step, detail: p.detail ?? undefined });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.quietMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = [...this.ops.values()];
    this.ops.clear();
    for (const op of all) this.report(op);
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

export function rollbackMessage(s: RollbackSummary): string {
  const undone = s.undone.length ? `undid ${s.undone.join(", ")}` : "there was nothing to undo";
  const failed = s.failed.map((f) => (f.detail ? `${f.step} (${f.detail})` : f.step));
  const tail = failed.length ? `; could not undo ${failed.join(", ")}: run Berth: Recover` : "";
  return `Berth rolled back '${s.slug}': ${undone}${tail}.`;
}
