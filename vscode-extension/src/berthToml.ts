// Finding a key in berth.toml, to open the file where a remedy points (editConfig {key}). Pure (no vscode import).

/**
 * The 0-based line that sets `key` (`key = …`), else the line of its table (`[key]`, `[[key]]`), else a
 * commented-out setting (`# key = …`, as in the starter file); undefined when the key is not in the text.
 */
export function keyLine(text: string, key: string): number | undefined {
  const lines = text.split(/\r?\n/);
  const name = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const patterns = [new RegExp(`^\\s*${name}\\s*=`), new RegExp(`^\\s*\\[\\[?\\s*${name}\\s*\\]\\]?`), new RegExp(`^\\s*#\\s*${name}\\s*=`)];
  for (const pattern of patterns) {
    const line = lines.findIndex((l) => pattern.test(l));
    if (line >= 0) return line;
  }
  return undefined;
}
