"""A linked pseudo-terminal pair made by socat: a serial cable without hardware.

Used by the tests and the demo to run Modbus RTU and ASCII line sensors over real
serial ports: the simulator opens one end, the agent the other. Stopping the pair
removes both device links, which is how a USB adapter that is pulled out looks;
starting it again makes new ptys under the same names.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)


class PtyPair:
    """Two linked ptys at `<folder>/<name>-a` and `<folder>/<name>-b`."""

    def __init__(self, folder: Path, name: str = "tty") -> None:
        self.a = folder / f"{name}-a"
        self.b = folder / f"{name}-b"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 5.0) -> None:
        socat = shutil.which("socat")
        if socat is None:
            raise RuntimeError("socat is not installed: run ./scripts/bootstrap.sh")
        if self._proc is not None:
            raise RuntimeError("pty pair already running")
        self._proc = await asyncio.create_subprocess_exec(
            socat,
            f"pty,raw,echo=0,link={self.a}",
            f"pty,raw,echo=0,link={self.b}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(timeout_s):
                while not (self.a.exists() and self.b.exists()):
                    if self._proc.returncode is not None:
                        raise RuntimeError(f"socat exited with {self._proc.returncode}")
                    await asyncio.sleep(0.02)
        except BaseException:
            await self.stop()
            raise
        log.debug("pty pair up a=%s b=%s", self.a, self.b)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        # socat removes its links on a clean exit; make sure of it after a kill.
        for link in (self.a, self.b):
            link.unlink(missing_ok=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
