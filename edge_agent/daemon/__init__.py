"""The running daemon: load the config, profiles and rules; wire the pipeline, the ops
layer, the control socket and the uplink on one asyncio loop; stop cleanly."""
