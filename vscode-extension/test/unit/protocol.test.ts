import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { collectDefinitions, generateProtocolTs } from "../../scripts/protocol-codegen.mjs";

const sample = async () => JSON.parse(await readFile("test/fixtures/berth-protocol.sample.json", "utf8")) as Record<string, unknown>;

test("method schemas are named by their titles and shared $defs are declared once", async () => {
  const { defs, requests, notifications } = collectDefinitions(await sample());
  assert.deepEqual(requests.find((r) => r.method === "berth/up"), { method: "berth/up", params: "UpParams", result: "Session" });
  assert.deepEqual(notifications.map((n) => n.method), ["berth/rollback", "berth/sessionChanged"]);
  assert.ok("Service" in defs && "Session" in defs);
});

test("two different definitions with one name are refused", () => {
  const a = { $defs: { X: { type: "string" } }, type: "object", title: "A" };
  const b = { $defs: { X: { type: "integer" } }, type: "object", title: "B" };
  assert.throws(() => collectDefinitions({ protocolVersion: 1, methods: { "berth/a": { params: a, result: b } } }), /conflicting definitions named "X"/);
});

test("the generated module has types, method maps and error codes, and is deterministic", async () => {
  const protocol = await sample();
  const ts = await generateProtocolTs(protocol, "sample.json");
  assert.match(ts, /^export const PROTOCOL_VERSION = 1;$/m);
  assert.match(ts, /^export interface Session \{$/m);
  assert.match(ts, /services: Service\[\];/);
  assert.match(ts, /status: "pending" \| "active" \| "stopped";/);
  assert.match(ts, /"berth\/up": \{ params: UpParams; result: Session \};/);
  assert.match(ts, /"berth\/sessionChanged": SessionChangedParams;/);
  assert.match(ts, /HOOK_FAILED: \{ code: -32012, description: "hook failed" \},/);
  assert.doesNotMatch(ts, /export type (Slug|Root|Branch) =/, "no per-property aliases from nested titles");
  assert.equal(await generateProtocolTs(protocol, "sample.json"), ts);
});

test("a protocol without a version is rejected", async () => {
  await assert.rejects(generateProtocolTs({ methods: {} }, "x"), /protocolVersion/);
});

test("the committed src/protocol.generated.ts is what protocol/berth-protocol.json generates", async () => {
  const protocol = JSON.parse(await readFile("../protocol/berth-protocol.json", "utf8")) as Record<string, unknown>;
  const expected = await generateProtocolTs(protocol, "protocol/berth-protocol.json");
  assert.equal(await readFile("src/protocol.generated.ts", "utf8"), expected, "stale: run npm run gen:protocol");
});

test("the protocol's shared $defs and $ref-only method schemas name the types after the definitions", async () => {
  const { requests, notifications } = collectDefinitions({
    protocolVersion: 1,
    $defs: { P: { type: "object", properties: {} }, R: { type: "object", properties: {} } },
    methods: { "berth/x": { params: { $ref: "#/$defs/P" }, result: { $ref: "#/$defs/R" } } },
    notifications: { "berth/n": { params: { $ref: "#/$defs/P" } } },
  });
  assert.deepEqual(requests, [{ method: "berth/x", params: "P", result: "R" }]);
  assert.deepEqual(notifications, [{ method: "berth/n", params: "P" }]);
});
