"""Berth: one isolated development environment per git branch."""

__version__ = "0.1.0"
