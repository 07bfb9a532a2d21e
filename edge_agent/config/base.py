"""What every section model of gateway.toml shares: the model base and the word types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A word of an MQTT topic (site, mode): no '/', '+' or '#'.
TopicWord = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]


class ConfigModel(BaseModel):
    """Unknown keys are errors (a typo must not pass silently); a loaded config is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
