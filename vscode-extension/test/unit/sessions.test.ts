import assert from "node:assert/strict";
import { test } from "node:test";
import { SessionStore } from "../../src/sessions";
import { session } from "./fixtures";

test("sessionChanged with a session upserts it and notifies listeners", () => {
  const store = new SessionStore();
  let changes = 0;
  store.onChange(() => changes++);
  store.apply({ slug: "feat-x", status: "pending", session: session({ status: "pending" }) });
  store.apply({ slug: "feat-x", status: "active", session: session() });
  assert.equal(store.get("feat-x")?.status, "active");
  assert.equal(changes, 2);
});

test("sessionChanged without a session updates the status of a known one and ignores unknown ones", () => {
  const store = new SessionStore();
  store.replaceAll([session()]);
  store.apply({ slug: "feat-x", status: "stopped" });
  store.apply({ slug: "ghost", status: "active" });
  assert.deepEqual(store.list().map((s) => [s.slug, s.status]), [["feat-x", "stopped"]]);
});

test("status removed drops the session", () => {
  const store = new SessionStore();
  store.replaceAll([session(), session({ slug: "other", slot: 2 })]);
  store.apply({ slug: "feat-x", status: "removed" });
  assert.deepEqual(store.list().map((s) => s.slug), ["other"]);
});

test("list is ordered by slot; forFolder matches the worktree and folders inside it", () => {
  const store = new SessionStore();
  store.replaceAll([session({ slug: "b", slot: 3 }), session({ slug: "a", slot: 1 })]);
  assert.deepEqual(store.list().map((s) => s.slug), ["a", "b"]);
  assert.equal(store.forFolder("/repo/.berth/worktrees/b/")?.slug, "b");
  assert.equal(store.forFolder("/repo/.berth/worktrees/b/src")?.slug, "b");
  assert.equal(store.forFolder("/repo/.berth/worktrees/bb"), undefined);
  assert.equal(store.forFolder("/repo"), undefined);
  assert.equal(store.forFolder(undefined), undefined);
});
