"""The control socket: how the CLI talks to the running daemon.

- `protocol`: the JSON-lines messages, their limits and errors (`Params`, `MethodError`).
- `server`: `ControlServer`, which the daemon runs.
- `client`: `call` and `stream`, which the CLI uses (`NoAgentError` when nothing answers).
- `paths`: where the socket is (`control_socket_path`, `client_socket_paths`).
"""
