// Turns what a berth request failed with into what the user sees. Pure (no vscode import).
import { ERROR_CODES, type ErrorCode } from "./protocol.generated";

/** JSON-RPC RequestCancelled: what the server answers a cancelled request with. */
const REQUEST_CANCELLED = -32800;

/** Buttons offered beside an error; commands.ts runs each. */
export type ErrorAction = "Show Logs" | "Show Status" | "Stop a Session" | "Open berth.toml" | "Open Settings" | "Show Output";

export type MappedError =
  | { kind: "cancelled" }
  | {
      kind: "error";
      /** The domain code (error.data.code), e.g. HOOK_FAILED. */
      code: string | undefined;
      /** One line for the toast: the first line of "<what happened>; <what to do>", plus the hint if it is not there. */
      message: string;
      /** Everything the server said (e.g. a hook's last output lines), for the output channel. */
      detail: string;
      actions: ErrorAction[];
    };

const ACTIONS: Partial<Record<ErrorCode, ErrorAction[]>> = {
  HOOK_FAILED: ["Show Logs"],
  SPAWN_FAILED: ["Show Logs"],
  SERVICE_NOT_READY: ["Show Logs"],
  PORT_IN_USE: ["Show Status"],
  SESSION_BUSY: ["Show Status"],
  SESSION_NOT_FOUND: ["Show Status"],
  SLOTS_EXHAUSTED: ["Stop a Session"],
  CONFIG_INVALID: ["Open berth.toml"],
  CONFIG_MISSING: ["Open berth.toml"],
};

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  data?: unknown;
}

function field(data: unknown, name: string): string | undefined {
  const v = typeof data === "object" && data !== null ? (data as Record<string, unknown>)[name] : undefined;
  return typeof v === "string" && v.trim() ? v.trim() : undefined;
}

function domainCode(err: ErrorLike): string | undefined {
  return field(err.data, "code") ?? Object.entries(ERROR_CODES).find(([, v]) => v.code === err.code)?.[0];
}

export function mapError(error: unknown): MappedError {
  const err: ErrorLike = typeof error === "object" && error !== null ? (error as ErrorLike) : { message: String(error) };
  const code = domainCode(err);
  if (err.code === REQUEST_CANCELLED || code === "CANCELLED") return { kind: "cancelled" };
  const full = typeof err.message === "string" && err.message.trim() ? err.message.trim() : "the request failed";
  const hint = field(err.data, "hint");
  const first = full.split("\n")[0] ?? full;
  const message = hint && !first.includes(hint) ? `${first}; ${hint}` : first;
  return { kind: "error", code, message, detail: full, actions: ACTIONS[code as ErrorCode] ?? ["Show Output"] };
}
