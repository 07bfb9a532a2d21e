"""What the running agent answers, to the CLI over the control socket and to the
platform over MQTT commands: one implementation per question, seeing a narrow view of
the running gateway (`ops.state.RunningGateway`), never the Agent itself."""
