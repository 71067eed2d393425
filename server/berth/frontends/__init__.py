"""The ways in: the CLI and the JSON-RPC server. Each parses input, calls the engine, and renders
its events and errors in its own channel."""
