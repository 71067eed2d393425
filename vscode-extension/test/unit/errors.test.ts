import assert from "node:assert/strict";
import { test } from "node:test";
import { mapError } from "../../src/errors";
import { ERROR_CODES } from "../../src/protocol.generated";

test("a domain error shows the server's message and hint, with an action that fits", () => {
  const mapped = mapError({
    code: ERROR_CODES.HOOK_FAILED.code,
    message: "hook post_up failed with exit code 3: exit 3\n--- last output ---\noops; fix the hook",
    data: { code: "HOOK_FAILED", hint: "fix the hook" },
  });
  assert.deepEqual(mapped, {
    kind: "error",
    code: "HOOK_FAILED",
    message: "hook post_up failed with exit code 3: exit 3; fix the hook",
    detail: "hook post_up failed with exit code 3: exit 3\n--- last output ---\noops; fix the hook",
    actions: ["Show Logs"],
  });
});

test("the hint is not repeated when the message already carries it", () => {
  const mapped = mapError({ code: 1, message: "all 8 slots are in use; stop a session", data: { code: "SLOTS_EXHAUSTED", hint: "stop a session" } });
  assert.equal(mapped.kind === "error" && mapped.message, "all 8 slots are in use; stop a session");
  assert.deepEqual(mapped.kind === "error" && mapped.actions, ["Stop a Session"]);
});

test("without data.code the numeric code is looked up in the protocol's error codes", () => {
  const mapped = mapError({ code: ERROR_CODES.HOOK_FAILED.code, message: "hook failed; fix it" });
  assert.equal(mapped.kind === "error" && mapped.code, "HOOK_FAILED");
});

test("RequestCancelled and CANCELLED are a cancellation, not an error", () => {
  assert.deepEqual(mapError({ code: -32800, message: "Request cancelled" }), { kind: "cancelled" });
  assert.deepEqual(mapError({ code: 5, message: "x", data: { code: "CANCELLED" } }), { kind: "cancelled" });
});

test("anything else falls back to its text and Show Output", () => {
  const mapped = mapError(new Error("Client is not running"));
  assert.equal(mapped.kind === "error" && mapped.message, "Client is not running");
  assert.deepEqual(mapped.kind === "error" && mapped.actions, ["Show Output"]);
  assert.equal(mapError("boom").kind === "error" && (mapError("boom") as { message: string }).message, "boom");
});
