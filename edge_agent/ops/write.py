"""`write`: an operator's write of one configured point, through the running gateway's
action stage (audited as an action event, action "command"), answered with the value
read back from the device."""

from __future__ import annotations

from edge_agent.errors import EdgeAgentError
from edge_agent.ops.args import WriteArgs
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import RunningGateway
from edge_agent.records import ActionState, Json, finite


async def write(gw: RunningGateway, args: WriteArgs) -> Json:
    try:
        e = await gw.write(args.point, args.value)
    except EdgeAgentError as err:
        raise OpError(f"{args.point}: not written: {err}") from err
    if e.state is not ActionState.DONE:
        raise OpError(f"{args.point}: write {e.state}: {e.reason}")
    return {
        "point": args.point, "value": args.value, "read_back": finite(e.read_back),
        "state": str(e.state), "event": e.event_id, "ts": e.ts_ms,
    }  # fmt: skip
