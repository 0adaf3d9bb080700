"""The permanent attack suite: each attack against the protocol core and against a live server over HTTP."""

import pytest

# The checks live in harness.py: have pytest explain their failures as it does a test's own asserts.
pytest.register_assert_rewrite("attacks.harness")
