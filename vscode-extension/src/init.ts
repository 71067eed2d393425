// The init remedies: `berth init --json` writes the starter berth.toml (the server owns its content).
import { execFile } from "node:child_process";
import { berthArgs, type BerthCommand } from "./serverCommand";

export type InitResult =
  | { ok: true; configFile: string }
  /** `error` has the shape of a JSON-RPC error (message, data: {code, hint, remedies}), for mapError. */
  | { ok: false; error: { message: string; data?: unknown } };

/** Runs `berth init --json --root <root> [--force]` and reads its JSON answer. */
export function runBerthInit(berth: BerthCommand, root: string, overwrite: boolean): Promise<InitResult> {
  const args = berthArgs(berth, "init", "--json", "--root", root, ...(overwrite ? ["--force"] : []));
  return new Promise((resolve) => {
    execFile(berth.command, args, { cwd: root }, (err, stdout, stderr) => {
      let answer: unknown;
      try {
        answer = JSON.parse(stdout);
      } catch {
        const why = stderr.trim() || err?.message || "no answer";
        resolve({ ok: false, error: { message: `berth init failed: ${why}` } });
        return;
      }
      const fields = typeof answer === "object" && answer !== null ? (answer as Record<string, unknown>) : {};
      if (typeof fields.configFile === "string") {
        resolve({ ok: true, configFile: fields.configFile });
        return;
      }
      const error = typeof fields.error === "object" && fields.error !== null ? (fields.error as Record<string, unknown>) : {};
      const message = typeof error.message === "string" ? error.message : "berth init failed";
      resolve({ ok: false, error: { message, data: error } });
    });
  });
}
