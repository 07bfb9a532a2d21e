"""The daemon's ties to the operating system: log set-up (journald-aware) and
systemd's notify protocol (READY, WATCHDOG)."""
