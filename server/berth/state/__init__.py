"""Berth's durable state: the SQLite store (sessions, leases, operations, journal) and the rollback
guard that unwinds an operation from its journal."""
