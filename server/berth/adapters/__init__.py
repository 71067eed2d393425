"""Small wrappers around the real tools: git, processes, ports, hooks, env files, compose, docker."""
