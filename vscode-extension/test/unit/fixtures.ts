// Sample protocol values for the unit tests.
import type { SessionView } from "../../src/protocol.generated";

export function session(over: Partial<SessionView> = {}): SessionView {
  const slug = over.slug ?? "feat-x";
  return {
    slug,
    branch: `feature/${slug}`,
    mode: "host",
    slot: 1,
    status: "active",
    worktreePath: `/repo/.berth/worktrees/${slug}`,
    envFile: `/repo/.berth/worktrees/${slug}/.env.berth`,
    ports: { web: 18101 },
    services: [{ name: "web", kind: "native", port: 18101, state: "running", pid: 4242, logPath: `/repo/.berth/logs/${slug}/web.log` }],
    startedAt: "2025-01-01T00:00:00Z",
    ...over,
  } as SessionView;
}
