import assert from "node:assert/strict";
import { test } from "node:test";
import {
  LogLineRouter,
  endText,
  logToken,
  terminalText,
} from "../../src/logLines";
import type {
  LogLineNotification,
  LogsResult,
} from "../../src/protocol.generated";

const line = (
  token: string,
  text: string,
  skipped?: number,
): LogLineNotification => ({
  token,
  service: skipped ? "" : "web",
  time: "2026-05-01T12:00:00.000000Z",
  text,
  ...(skipped ? { skipped } : {}),
});

test("each berth/logLine goes to the follow whose request gave its token, and none after it ended", () => {
  const router = new LogLineRouter();
  const a: string[] = [];
  const b: string[] = [];
  const ra = router.add("a", (l) => a.push(l.text));
  router.add("b", (l) => b.push(l.text));
  router.dispatch(line("a", "one"));
  router.dispatch(line("b", "two"));
  router.dispatch(line("zzz", "nobody's"));
  ra.dispose();
  router.dispatch(line("a", "late"));
  assert.deepEqual([a, b, router.size], [["one"], ["two"], 1]);
});

test("tokens are unique per follow", () => {
  assert.notEqual(logToken("feat-x", "web"), logToken("feat-x", "web"));
});

test("terminal text ends lines with CRLF and dims a skipped-lines marker", () => {
  assert.equal(terminalText(line("a", "hello")), "hello\r\n");
  assert.equal(
    terminalText(line("a", "… 12 lines skipped", 12)),
    "\x1b[2m… 12 lines skipped\x1b[0m\r\n",
  );
});

test("the end of a follow is said in the terminal", () => {
  const down: LogsResult = {
    lines: [],
    ended: "sessionDown",
    message: "session feat-x went down; stopped following its logs",
  };
  assert.match(endText(down), /\[berth\] session feat-x went down/);
  assert.equal(endText(undefined), "");
  assert.match(endText(undefined, "session 'x' not found"), /not found/);
});
