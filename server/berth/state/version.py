"""The state file's schema version: the store migrates to it, and the fast readers of
lifecycle/listing.py answer only for it (this module imports nothing, so they stay cheap)."""

SCHEMA_VERSION = 3
