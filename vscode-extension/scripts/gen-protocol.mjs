// @ts-check
// Generates src/protocol.generated.ts from the server's machine-readable protocol (protocol/berth-protocol.json).
//   node scripts/gen-protocol.mjs           write the file
//   node scripts/gen-protocol.mjs --check   exit 1 when the committed file is stale
// Options: --schema <protocol json> (default ../protocol/berth-protocol.json), --out <ts file>.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateProtocolTs } from "./protocol-codegen.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_SCHEMA = path.resolve(here, "../../protocol/berth-protocol.json");
const DEFAULT_OUT = path.resolve(here, "../src/protocol.generated.ts");

/** @param {string[]} argv */
async function main(argv) {
  /** @param {string} flag @param {string} fallback */
  const arg = (flag, fallback) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? path.resolve(argv[i + 1]) : fallback;
  };
  const schemaPath = arg("--schema", DEFAULT_SCHEMA);
  const outPath = arg("--out", DEFAULT_OUT);
  let raw;
  try {
    raw = await readFile(schemaPath, "utf8");
  } catch {
    throw new Error(`protocol file ${schemaPath} not found; build it on the server side (or pass --schema <file>)`);
  }
  const source = path.relative(path.resolve(here, "../.."), schemaPath).split(path.sep).join("/");
  const generated = await generateProtocolTs(JSON.parse(raw), source);
  if (argv.includes("--check")) {
    const current = await readFile(outPath, "utf8").catch(() => "");
    if (current !== generated) {
      throw new Error(`${path.relative(process.cwd(), outPath)} is stale against ${source}; run \`npm run gen:protocol\``);
    }
    console.log(`protocol types are up to date with ${source}`);
    return;
  }
  await writeFile(outPath, generated);
  console.log(`wrote ${path.relative(process.cwd(), outPath)} from ${source}`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`gen-protocol: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
