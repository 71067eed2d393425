import assert from "node:assert/strict";
import { test } from "node:test";
import { keyLine } from "../../src/berthToml";

const toml = [
  'mode = "host"',
  "# prefix = \"berth\"",
  "max_slots = 8",
  "strict_port_note = 1",
  "",
  "[[services]]",
  'name = "web"',
  "strict_port = true",
].join("\n");

test("a key's own line wins over a commented-out one; a table is found by its header", () => {
  assert.equal(keyLine(toml, "max_slots"), 2);
  assert.equal(keyLine(toml, "strict_port"), 7, "not strict_port_note");
  assert.equal(keyLine(toml, "prefix"), 1, "the starter file's commented setting");
  assert.equal(keyLine(toml, "services"), 5);
  assert.equal(keyLine(toml, "port_search_range"), undefined);
});
