"""Field-bus drivers: Modbus TCP, Modbus RTU, RTU over TCP, ASCII serial lines."""
