"""Blocks: what a Block refuses at construction, before anything renders."""

import pytest

from kiosk_backend.core.printing import Block


@pytest.mark.parametrize(
    "block",
    [
        {"kind": "paragraph", "text": "x"},
        {"kind": "kv", "text": "A0042"},
        {"kind": "qr", "text": "扫码"},
    ],
    ids=["unknown kind", "kv without label", "qr without payload"],
)
def test_block_rejects_what_it_cannot_render(block):
    with pytest.raises(ValueError):
        Block(**block)


def test_block_rejects_a_missing_value_instead_of_failing_mid_render():
    with pytest.raises(TypeError):
        Block("kv", None, label="实施主体")
