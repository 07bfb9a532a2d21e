"""How long an action takes, from the reading to the confirmed write, on each bus kind.

    .venv/bin/python bench/action_latency.py [--alarms 20] [--sensors 8]
        [--kinds tcp,rtu,rtu-over-tcp]

Per bus kind (Modbus TCP, RTU on a pseudo-terminal pair at 38400 baud, RTU over TCP):
one pymodbus server with a methane detector (unit 1), a relay module (unit 2, fan on
relay 1, its fault contact on input 1) and `--sensors` pressure transmitters as
background load, all polled every second on one bus; the agent in-process with
`[gateway] actions = "auto"`, one threshold rule (no delays) and one action (fan on,
interlock on the fault contact read fresh, fan off on clear). The methane steps above
and below the limit `--alarms` times. For each decision: the reading's timestamp (the
alarm's `ts`) to the action event's `ts`, taken after the read-back equalled the value;
that covers detection, the alarm's commit (fsync) before acting, the interlock read,
the urgent turn on the line behind the poll in progress, the write and its read-back,
and the event's commit. No broker is needed (the uplink keeps retrying meanwhile).

A pseudo-terminal has no baud rate: RTU frames cross it at memory speed. The line time
a real RS-485 bus adds is printed beside it (drivers.planner.rtu_transaction_s for the
interlock read, the write and the read-back at 9600 and 38400 baud).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.base import ReadRequest  # noqa: E402
from drivers.planner import rtu_transaction_s  # noqa: E402
from drivers.profiles import load_profiles  # noqa: E402
from edge_agent.daemon.agent import Agent  # noqa: E402
from edge_agent.daemon.loading import load_everything  # noqa: E402
from edge_agent.demo.broker import free_port  # noqa: E402
from edge_agent.records import ActionEvent, AlarmState, AlarmTransition  # noqa: E402
from fieldsim.modbus_device import SimulatedDevice  # noqa: E402
from fieldsim.modbus_server import SimServer  # noqa: E402
from fieldsim.ptypair import PtyPair  # noqa: E402

RULES = """\
[[rules]]
id = "bench.gas.high"
kind = "threshold"
quantity = "methane_lel"
direction = "above"
levels = [ { level = 2, limit = 20.0 } ]
hysteresis = 1.0

[[actions]]
id = "bench.fan"
on = { rule = "bench.gas.high" }
set = [ { point = "io/relay1", value = 1 } ]
on_clear = [ { point = "io/relay1", value = 0 } ]
unless = [ { point = "io/input1", above = 0.5 } ]
"""


class Value:
    def __init__(self, v: float) -> None:
        self.v = v

    def __call__(self, _t: float) -> float:
        return self.v


def config(data: Path, bus: str, sensors: int) -> str:
    devices = [("gas", 1, "generic-gas-lel-int16"), ("io", 2, "waveshare-modbus-relay-d")]
    devices += [(f"pt-{i}", 10 + i, "generic-pressure-float32") for i in range(sensors)]
    out = ["[gateway]", 'id = "gw-bench"', 'site = "bench"', f'data_dir = "{data}"',
           'rules = ["rules.toml"]', 'actions = "auto"', "", "[mqtt]", 'host = "127.0.0.1"',
           f"port = {free_port()}", "", "[[buses]]", bus]  # fmt: skip
    for name, unit, profile in devices:
        out += ["", "[[devices]]", f'name = "{name}"', 'bus = "line"', f"unit = {unit}",
                f'profile = "{profile}"', "poll_interval_s = 1"]  # fmt: skip
    return "\n".join(out) + "\n"


async def measure(kind: str, alarms: int, sensors: int, work: Path) -> list[float]:
    profiles = load_profiles([])
    methane = Value(2.0)
    devs = [
        SimulatedDevice(1, profiles["generic-gas-lel-int16"], {"methane": methane}),
        SimulatedDevice(2, profiles["waveshare-modbus-relay-d"], {"input1": 0.0}),
    ]
    devs += [SimulatedDevice(10 + i, profiles["generic-pressure-float32"]) for i in range(sensors)]
    async with contextlib.AsyncExitStack() as stack:
        if kind == "rtu":
            pair = PtyPair(work)
            await pair.start()
            stack.push_async_callback(pair.stop)
            server = SimServer(devs, kind="rtu", serial_port=str(pair.a), baudrate=38400)
            bus = (f'name = "line"\nkind = "modbus-rtu"\nport = "{pair.b}"\n'
                   "baudrate = 38400\ntimeout_s = 1.0")  # fmt: skip
        else:
            server = SimServer(devs, kind="tcp" if kind == "tcp" else "rtu-over-tcp")
            bus = ""
        port = await server.start()
        stack.push_async_callback(server.stop)
        if kind != "rtu":
            bus = (f'name = "line"\nkind = "modbus-{"tcp" if kind == "tcp" else "rtu-over-tcp"}"'
                   f'\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 1.0')  # fmt: skip
        (work / "rules.toml").write_text(RULES)
        (work / "gateway.toml").write_text(config(work / "data", bus, sensors))
        cfg, profs, ruleset = load_everything(work / "gateway.toml")
        raised: dict[str, int] = {}
        latencies: list[float] = []
        changed = asyncio.Event()

        def on_alarm(t: AlarmTransition) -> None:
            if t.state in (AlarmState.RAISED, AlarmState.CLEARED):
                raised[f"{t.alarm_id}/{t.state}"] = t.ts_ms

        agent = Agent(cfg, profs, ruleset, config_path=work / "gateway.toml", on_alarm=on_alarm)
        last_alarm: dict[str, int] = {}

        def on_event(e: ActionEvent) -> None:
            state = "cleared" if e.value == 0 else "raised"
            ts = raised.get(f"{e.alarm_id}/{state}")
            if e.state == "done" and ts is not None:
                latencies.append(e.ts_ms - ts)
            last_alarm["n"] = last_alarm.get("n", 0) + 1
            changed.set()

        agent.actions.listeners.append(on_event)
        run = asyncio.create_task(agent.run())
        await asyncio.sleep(3)  # warm-up: kernels, first polls
        for i in range(2 * alarms):
            target = i + 1
            methane.v = 30.0 if i % 2 == 0 else 2.0
            async with asyncio.timeout(30):
                while last_alarm.get("n", 0) < target:
                    changed.clear()
                    await changed.wait()
            await asyncio.sleep(0.3)  # off the poll's phase a little
        agent.stop()
        await run
        return latencies


def line_time_ms(baudrate: int) -> float:
    """Bus time of the interlock read (1 bit), the write (FC5) and its read-back (1 bit)."""
    one_bit = ReadRequest("coil", 0, 1, ("x",))
    return 3 * rtu_transaction_s(one_bit, baudrate) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--alarms", type=int, default=20)
    ap.add_argument("--sensors", type=int, default=8)
    ap.add_argument("--kinds", default="tcp,rtu,rtu-over-tcp")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"{'bus':<14} {'n':>3} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-actions-") as tmp:
            lat = sorted(asyncio.run(measure(kind, args.alarms, args.sensors, Path(tmp))))
        if not lat:
            print(f"{kind:<14} no confirmed writes")
            continue
        p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
        print(f"{kind:<14} {len(lat):>3} {statistics.median(lat):>10.1f} {p90:>8.1f} "
              f"{lat[-1]:>8.1f}")  # fmt: skip
    slow, fast = line_time_ms(9600), line_time_ms(38400)
    print("\nline time a real RS-485 bus adds (interlock read, write, read-back): "
          f"{slow:.1f} ms at 9600 baud, {fast:.1f} ms at 38400")  # fmt: skip


if __name__ == "__main__":
    main()
