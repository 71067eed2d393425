"""Bring-up and teardown as step lists, one module per mode."""
