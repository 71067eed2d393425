import assert from "node:assert/strict";
import { test } from "node:test";
import { mapError } from "../../src/errors";
import { ERROR_CODES } from "../../src/protocol.generated";

test("a domain error shows the server's message and hint, and carries its remedies", () => {
  const mapped = mapError({
    code: ERROR_CODES.WORKTREE_EXISTS.code,
    message: "/repo/.berth/worktrees/feat-x already exists",
    data: {
      code: "WORKTREE_EXISTS",
      hint: "reuse it as the session's worktree, or move it away",
      remedies: [{ action: "reuseWorktree", args: { branch: "feat/x" } }],
      details: { path: "/repo/.berth/worktrees/feat-x" },
    },
  });
  assert.deepEqual(mapped, {
    kind: "error",
    code: "WORKTREE_EXISTS",
    message: "/repo/.berth/worktrees/feat-x already exists; reuse it as the session's worktree, or move it away",
    detail: "/repo/.berth/worktrees/feat-x already exists",
    remedies: [{ action: "reuseWorktree", args: { branch: "feat/x" } }],
  });
});

test("the toast has the first line; the output gets the hook's last output lines", () => {
  const mapped = mapError({
    code: ERROR_CODES.HOOK_FAILED.code,
    message: "hook post_up failed with exit code 3: exit 3\n--- last output ---\noops",
    data: { code: "HOOK_FAILED", hint: "fix the hook" },
  });
  assert.equal(mapped.kind === "error" && mapped.message, "hook post_up failed with exit code 3: exit 3; fix the hook");
  assert.equal(mapped.kind === "error" && mapped.detail, "hook post_up failed with exit code 3: exit 3\n--- last output ---\noops");
  assert.deepEqual(mapped.kind === "error" && mapped.remedies, []);
});

test("the hint is not repeated when the message already carries it", () => {
  const mapped = mapError({ code: 1, message: "all 8 slots are in use; stop a session", data: { code: "SLOTS_EXHAUSTED", hint: "stop a session" } });
  assert.equal(mapped.kind === "error" && mapped.message, "all 8 slots are in use; stop a session");
});

test("a rollback that left something behind lists what remains in the detail", () => {
  const mapped = mapError({
    code: ERROR_CODES.HOOK_FAILED.code,
    message: "hook post_up failed",
    data: {
      code: "HOOK_FAILED",
      hint: "fix the hook; rollback could not undo everything (listed in the details): recover retries it",
      remedies: [{ action: "recover", args: {} }],
      details: { rollback: { complete: false, remaining: [{ step: "remove worktree /w", kind: "remove_worktree", error: "busy" }] } },
    },
  });
  assert.ok(mapped.kind === "error");
  assert.equal(mapped.detail, "hook post_up failed\nthe rollback could not undo:\n  remove worktree /w: busy");
  assert.deepEqual(mapped.remedies, [{ action: "recover", args: {} }]);
});

test("malformed remedies are dropped, well-formed ones kept", () => {
  const mapped = mapError({ code: 1, message: "x", data: { code: "INTERNAL", hint: "h", remedies: [{ args: {} }, "recover", { action: "recover" }] } });
  assert.deepEqual(mapped.kind === "error" && mapped.remedies, [{ action: "recover" }]);
});

test("without data.code the numeric code is looked up in the protocol's error codes", () => {
  const mapped = mapError({ code: ERROR_CODES.HOOK_FAILED.code, message: "hook failed; fix it" });
  assert.equal(mapped.kind === "error" && mapped.code, "HOOK_FAILED");
});

test("RequestCancelled and CANCELLED are a cancellation, not an error", () => {
  assert.deepEqual(mapError({ code: -32800, message: "Request cancelled" }), { kind: "cancelled" });
  assert.deepEqual(mapError({ code: 5, message: "x", data: { code: "CANCELLED" } }), { kind: "cancelled" });
});

test("anything else falls back to its text, without remedies", () => {
  const mapped = mapError(new Error("Client is not running"));
  assert.equal(mapped.kind === "error" && mapped.message, "Client is not running");
  assert.deepEqual(mapped.kind === "error" && mapped.remedies, []);
  const text = mapError("boom");
  assert.equal(text.kind === "error" && text.message, "boom");
});
