"""Bring-up and teardown as step lists. `registry` maps each mode to its family object; `host/`
runs native services, `compose/` drives a compose project; `container` and `hybrid` combine them."""
