"""The engine: `up`, `down`, `status`, `list`, `recover` for one repository, over the modes' step
lists; knows no frontend."""
