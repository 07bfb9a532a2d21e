"""A simulated field for the demo, the tests and the benchmarks: Modbus devices on real
pymodbus servers, ASCII line sensors, pty pairs for serial ports, and `SimField`, every
bus kind at once. Loopback and pseudo-terminals only.

    signals        Signal (a function of seconds since start), signal_value
    modbus_device  SimulatedDevice: one Modbus unit speaking a profile, with fault switches
    modbus_server  SimServer (TCP, RTU over TCP, RTU on a serial port), serve_tcp
    line           LineSensor, LineSimServer: ASCII sensors on a serial port
    ptypair        PtyPair: a serial cable without hardware (socat)
    field          SimField, FieldDevice, BusKind: a simulated field of every bus kind

`drivers` never imports this package; this package uses `drivers` (profiles, encoding).
"""
