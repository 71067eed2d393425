"""`berth` on the command line."""
