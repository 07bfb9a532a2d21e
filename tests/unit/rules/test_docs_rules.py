"""docs/rules.md documents every rule kind and every key a rule file accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.spec import RULE_KINDS

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


@pytest.mark.parametrize("kind", sorted(RULE_KINDS))
def test_every_kind_and_key_is_documented(kind: str) -> None:
    text = DOC.read_text()
    assert f"`{kind}`" in text
    for key in RULE_KINDS[kind].model_fields:
        assert f"`{key}`" in text, f"{kind}.{key} is not in docs/rules.md"
