"""Berth's JSON-RPC server in the Language Server Protocol style (pygls). Thin glue over the engine."""
