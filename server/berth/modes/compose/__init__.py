"""A session's compose project: plan (which services and ports), up, down, undo, views."""
