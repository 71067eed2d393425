// How Berth: Down words the question its down plan raises and the teardown receipt. Pure (no vscode import).
import type { DownBlocker, DownPlan, DownResult, TeardownReceipt } from "./protocol.generated";

const LISTED = 10;

export interface Question {
  message: string;
  detail: string;
  /** The buttons, in order; dismissing the question cancels the down. */
  actions: string[];
}

/** The server's answer to berth/down with dryRun (a plan carries `dryRun: true`). */
export function isDownPlan(result: DownResult): result is DownPlan {
  return "dryRun" in result && result.dryRun === true;
}

function listing(items: readonly string[]): string {
  const listed = items.slice(0, LISTED).map((c) => `  ${c}`);
  if (items.length > LISTED) listed.push(`  … and ${items.length - LISTED} more`);
  return listed.join("\n");
}

/**
 * Asked before a full down when the server's down plan (berth/down with dryRun) has blockers: uncommitted changes
 * (Remove Anyway deletes them, Keep Worktree stops the session), commits on the branch that nothing else has, a
 * worktree another tool locked. Undefined when the plan has none: the down goes ahead without asking.
 */
export function downQuestion(plan: DownPlan): Question | undefined {
  const blockers: DownBlocker[] = plan.blockers ?? [];
  if (!blockers.length) return undefined;
  const worktree = [...plan.remove, ...plan.keep].find((r) => r.kind === "worktree")?.name;
  const dirty = blockers.find((b) => b.kind === "uncommittedChanges");
  const others = blockers.filter((b) => b !== dirty);
  const sections = [
    ...(worktree ? [worktree] : []),
    ...(dirty ? [listing(dirty.items ?? [])] : []),
    ...others.map((b) => [b.message, ...(b.items?.length ? [listing(b.items)] : [])].join("\n")),
  ];
  if (dirty) {
    return {
      message: `The worktree of '${plan.slug}' has uncommitted changes.`,
      detail: [
        ...sections,
        "Remove Anyway deletes them with the worktree. Keep Worktree stops the session and leaves its worktree as it is.",
      ].join("\n\n"),
      actions: ["Remove Anyway", "Keep Worktree"],
    };
  }
  const locked = others.some((b) => b.kind === "lockedWorktree");
  return {
    message: locked
      ? `The worktree of '${plan.slug}' is locked by another tool.`
      : `The branch of '${plan.slug}' has commits that no other branch or remote has.`,
    detail: [
      ...sections,
      locked
        ? "Down stops the session and keeps the locked worktree."
        : "Down keeps the branch, so the commits stay on it.",
    ].join("\n\n"),
    actions: ["Down"],
  };
}

export interface TeardownMessage {
  severity: "info" | "warning";
  message: string;
}

/** What Berth says after a down or stop; `keepRequested`: the user asked to keep the worktree. */
export function teardownMessage(receipt: TeardownReceipt, keepRequested: boolean): TeardownMessage {
  const state = receipt.status === "stopped" ? "stopped" : "down";
  const kept = receipt.kept.map((k) => `${k.kind} ${k.name} (${k.reason})`);
  const warnings = receipt.warnings ?? [];
  const message = `Berth: ${receipt.slug} is ${state}${kept.length ? `; kept ${kept.join(", ")}` : ""}` +
    `${warnings.length ? `; ${warnings.join("; ")}` : ""}.`;
  // Something kept that nobody asked to keep (a dirty worktree the server would not delete) is a warning.
  const severity = (kept.length && !keepRequested) || warnings.length ? "warning" : "info";
  return { severity, message };
}
