// The pure pieces of "Berth: Show Logs": routing berth/logLine notifications to the follow they belong to (by the
// token its berth/logs request gave), and turning lines and the request's end into terminal text.
import type { LogLineNotification, LogsResult } from "./protocol.generated";

type Token = string | number;

/** One berth/logLine handler per connection, dispatching each notification to the follow with its token. */
export class LogLineRouter {
  private readonly sinks = new Map<
    Token,
    (line: LogLineNotification) => void
  >();

  add(
    token: Token,
    sink: (line: LogLineNotification) => void,
  ): { dispose(): void } {
    this.sinks.set(token, sink);
    return { dispose: () => void this.sinks.delete(token) };
  }

  dispatch(line: LogLineNotification): void {
    this.sinks.get(line.token)?.(line);
  }

  get size(): number {
    return this.sinks.size;
  }
}

let issued = 0;

/** A token no other follow of this window uses. */
export function logToken(slug: string, service: string): string {
  issued += 1;
  return `berth-logs:${slug}/${service}:${issued}`;
}

const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/** A line as a terminal shows it: CRLF line ends; a skipped-lines marker dimmed. */
export function terminalText(
  line: Pick<LogLineNotification, "text" | "skipped">,
): string {
  const text = line.text.replace(/\r?\n/g, "\r\n");
  return line.skipped ? `${DIM}${text}${RESET}\r\n` : `${text}\r\n`;
}

/** What the terminal says when the follow ended (the session went down) or failed. */
export function endText(
  result: LogsResult | undefined,
  error?: string,
): string {
  if (error !== undefined) return `\r\n${DIM}[berth] ${error}${RESET}\r\n`;
  if (!result?.message) return "";
  return `\r\n${DIM}[berth] ${result.message}${RESET}\r\n`;
}
