// How Berth: Down words the uncommitted-changes question and the teardown receipt. Pure (no vscode import).
import type { TeardownReceipt } from "./protocol.generated";

const LISTED_CHANGES = 10;

export interface Question {
  message: string;
  detail: string;
}

/** Asked before a full down when the server reports uncommitted changes in the session's worktree. */
export function uncommittedChangesQuestion(slug: string, worktree: string, changes: readonly string[]): Question {
  const listed = changes.slice(0, LISTED_CHANGES).map((c) => `  ${c}`);
  if (changes.length > LISTED_CHANGES) listed.push(`  … and ${changes.length - LISTED_CHANGES} more`);
  return {
    message: `The worktree of '${slug}' has uncommitted changes.`,
    detail: [
      worktree,
      listed.join("\n"),
      "Remove Anyway deletes them with the worktree. Keep Worktree stops the session and leaves its worktree as it is.",
    ].join("\n\n"),
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
