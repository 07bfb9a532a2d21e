"""Packaged firmware profiles: one TOML file per sensor model (and firmware range)."""

from pathlib import Path

PROFILE_DIR = Path(__file__).resolve().parent
