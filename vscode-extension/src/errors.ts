// Turns what a berth request failed with into what the user sees. Pure (no vscode import).
import { ERROR_CODES, type RemedyView } from "./protocol.generated";

/** JSON-RPC RequestCancelled: what the server answers a cancelled request with. */
const REQUEST_CANCELLED = -32800;

export type MappedError =
  | { kind: "cancelled" }
  | {
      kind: "error";
      /** The domain code (error.data.code), e.g. HOOK_FAILED. */
      code: string | undefined;
      /** One line for the toast: the first line of "<what happened>; <what to do>", plus the hint if it is not there. */
      message: string;
      /** Everything the server said (e.g. a hook's last output lines, what a rollback left), for the output channel. */
      detail: string;
      /** What the user can do about it, as the server offers it (remedies.ts turns them into buttons). */
      remedies: RemedyView[];
    };

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  data?: unknown;
}

type Fields = Record<string, unknown>;

function isFields(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(data: unknown, name: string): string | undefined {
  const v = isFields(data) ? data[name] : undefined;
  return typeof v === "string" && v.trim() ? v.trim() : undefined;
}

function domainCode(err: ErrorLike): string | undefined {
  return text(err.data, "code") ?? Object.entries(ERROR_CODES).find(([, v]) => v.code === err.code)?.[0];
}

function remediesOf(data: unknown): RemedyView[] {
  const list = isFields(data) ? data.remedies : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter((r): r is RemedyView => isFields(r) && typeof r.action === "string" && (r.args === undefined || isFields(r.args)));
}

/** The steps a failed bring-up's rollback could not undo (data.details.rollback.remaining), one line each. */
function rollbackLeftovers(data: unknown): string[] {
  const rollback = isFields(data) && isFields(data.details) ? data.details.rollback : undefined;
  if (!isFields(rollback) || rollback.complete !== false || !Array.isArray(rollback.remaining)) return [];
  return rollback.remaining.filter(isFields).map((r) => `${String(r.step)}: ${String(r.error)}`);
}

export function mapError(error: unknown): MappedError {
  const err: ErrorLike = isFields(error) ? error : { message: String(error) };
  const code = domainCode(err);
  if (err.code === REQUEST_CANCELLED || code === "CANCELLED") return { kind: "cancelled" };
  const full = typeof err.message === "string" && err.message.trim() ? err.message.trim() : "the request failed";
  const hint = text(err.data, "hint");
  const first = full.split("\n")[0] ?? full;
  const message = hint && !first.includes(hint) ? `${first}; ${hint}` : first;
  const leftovers = rollbackLeftovers(err.data);
  const detail = leftovers.length ? `${full}\nthe rollback could not undo:\n${leftovers.map((l) => `  ${l}`).join("\n")}` : full;
  return { kind: "error", code, message, detail, remedies: remediesOf(err.data) };
}
