"""Project Wycheproof HMAC-SHA256 vectors through the primitive the Canvas verifier uses.

Canvas signatures are full 32-byte HMAC-SHA256 tags, so the verifier must refuse a truncated tag
even when it is the correct prefix: in groups with ``tagSize`` < 256 every vector, "valid" ones
included, must be rejected. In full-size groups the verdict must equal Wycheproof's.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from forcegate.core.canvas import hmac_sha256_matches
from helpers import VECTORS

HMAC_SHA256 = VECTORS / "hmac_sha256_test.json"
FULL_TAG_BITS = 256


def _cases() -> list[Any]:
    data = json.loads(HMAC_SHA256.read_text())
    assert data["algorithm"] == "HMACSHA256"
    cases = []
    for group in data["testGroups"]:
        for test in group["tests"]:
            cases.append(pytest.param(group["tagSize"], test, id=f"tc{test['tcId']}-tag{group['tagSize']}"))
    assert len(cases) == data["numberOfTests"]
    return cases


CASES = _cases()


def test_every_vector_is_run() -> None:
    assert len(CASES) == 174
    assert {case.values[0] for case in CASES} == {128, 256}


@pytest.mark.parametrize(("tag_size", "test"), CASES)
def test_hmac_sha256_vector(tag_size: int, test: dict[str, Any]) -> None:
    key, msg, tag = (bytes.fromhex(test[name]) for name in ("key", "msg", "tag"))
    assert len(tag) * 8 == tag_size
    assert test["result"] in ("valid", "invalid")  # this file has no "acceptable" verdicts
    expected = test["result"] == "valid" and tag_size == FULL_TAG_BITS
    assert hmac_sha256_matches(key, msg, tag) is expected
    if test["result"] == "valid" and tag_size < FULL_TAG_BITS:
        # The refused tag is the true HMAC's prefix: refused for its length alone.
        assert hmac.digest(key, msg, "sha256").startswith(tag)
