// How Berth: Doctor shows its report and Berth: Prune… words its plan and receipt. Pure (no vscode import).
import type { DoctorReport, PruneReport } from "./protocol.generated";

const MARK: Record<string, string> = { ok: "✅ ok", warn: "⚠️ warn", error: "❌ error" };
const LISTED = 15;

/** The doctor report as a markdown document: one section per check that is not ok, a table of all. */
export function doctorMarkdown(r: DoctorReport): string {
  const s = r.summary;
  const lines = [
    `# Berth doctor: ${r.root ?? "(no repository)"}`,
    "",
    `${r.checks.length} checks: ${s.ok} ok, ${s.warn} warn, ${s.error} error in ${r.seconds.toFixed(2)} s — ` +
      (r.healthy ? "**healthy**" : "**unhealthy: a required check failed**"),
    "",
    "| | check | finding |",
    "| --- | --- | --- |",
    ...r.checks.map((c) => `| ${MARK[c.status] ?? c.status} | ${cell(c.title)}${c.required ? " (required)" : ""} | ${cell(c.detail)} |`),
  ];
  for (const c of r.checks.filter((c) => c.status !== "ok")) {
    lines.push("", `## ${MARK[c.status] ?? c.status}: ${c.title}`, "", c.detail);
    const items = c.items ?? [];
    if (items.length) lines.push("", ...items.map((i) => `- \`${i.replace(/`/g, "'")}\``));
    if (c.remediation) lines.push("", `**Fix:** ${c.remediation}`);
  }
  return lines.join("\n") + "\n";
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export interface PruneQuestion {
  message: string;
  detail: string;
}

/** The modal question before applying a plan the server answered with dryRun. */
export function pruneQuestion(plan: PruneReport): PruneQuestion {
  const listed = plan.plan.slice(0, LISTED).map((i) => `• ${i.kind} ${i.name}`);
  if (plan.plan.length > LISTED) listed.push(`… and ${plan.plan.length - LISTED} more`);
  const blockers = plan.blockers ?? [];
  const kept = plan.kept ?? [];
  const parts = [listed.join("\n")];
  if (blockers.length) parts.push("Never removed:\n" + blockers.map((b) => `• ${b.kind} ${b.name}: ${b.reason}`).join("\n"));
  if (kept.length) parts.push(`Kept: ${kept.length} volume(s) (removed only when volumes are pruned too).`);
  const n = plan.plan.length;
  return { message: `Berth: prune ${n} leftover${n === 1 ? "" : "s"} of no live session?`, detail: parts.join("\n\n") };
}

export interface PruneOutcome {
  severity: "info" | "warning";
  message: string;
}

/** What a prune that ran says: what went, and what is left and why. */
export function pruneOutcome(r: PruneReport): PruneOutcome {
  const removed = r.removed ?? [];
  const left = r.left ?? [];
  if (!r.plan.length) return { severity: "info", message: "Berth: nothing to prune." };
  const base = `Berth: pruned ${removed.length} of ${r.plan.length} leftover${r.plan.length === 1 ? "" : "s"}`;
  if (r.residueFree) return { severity: "info", message: `${base}; nothing planned is left.` };
  const why = left.slice(0, 3).map((l) => `${l.kind} ${l.name} (${l.reason})`).join("; ");
  return { severity: "warning", message: `${base}; still there: ${why}${left.length > 3 ? "; …" : ""}.` };
}
