"""README.md's walkthrough ("## Walkthrough: from Apex to your API"), run as written.

The ``sh`` blocks of that section — from its heading to the next heading of any level; the ``###``
reference sections after it are not steps — are joined in order into one bash script under
``set -euo pipefail`` and run in a fresh temporary folder standing for a fresh clone after the
README's first command: ``.venv`` links to the virtualenv running these tests and ``examples/`` is a
copy of the repository's. ``PATH`` starts with that virtualenv's ``bin``, ``FORCEGATE_DATA_DIR`` is a
new folder, ``FORCEGATE_PORT`` a free port, and no proxy is used: nothing leaves 127.0.0.1.

A block that cannot run outside a Salesforce org is marked on the line before its fence with
``<!-- walkthrough: skip: the reason -->``; any other ``walkthrough:`` comment, or one that is not
right before an ``sh`` block, is an error, so a marker cannot silently skip the wrong block.

The script stops whatever it started in the background on every way out (an ``EXIT`` trap), names
the README line of the block whose command failed, and runs in its own process group, which the test
kills if it outlives the timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HEADING = "## Walkthrough: from Apex to your API"
TIMEOUT = 60.0
ORG_ID = "00D5g000004ABCDEA4"
USER_ID = "0055g00000AbCdEAAV"
USERNAME = "integration@acme.example"
CANVAS_APP = "3MVG9demo"

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>\S*)")
_HEADING = re.compile(r"^#{1,6}(\s|$)")
_MARKER = re.compile(r"^<!--\s*walkthrough:(?P<directive>.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip:\s*(?P<reason>\S.*?)\s*$")
# Blocks in these languages would look runnable but be left out: the walkthrough writes ```sh.
_OTHER_SHELLS = frozenset({"bash", "shell", "zsh", "console", "shell-session"})
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})

_PROLOGUE = """\
set -euo pipefail
# Stop whatever the walkthrough left running in the background (the service), on every way out.
walkthrough_cleanup() {
  local pids
  pids=$(jobs -p)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    wait $pids 2>/dev/null || true
  fi
}
trap walkthrough_cleanup EXIT
# Each block sets the distance from its lines in this script to the same lines in README.md.
WALKTHROUGH_OFFSET=0
trap 'echo "walkthrough: exit $? at README.md line $((LINENO + WALKTHROUGH_OFFSET)): $BASH_COMMAND" >&2' ERR
"""


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the walkthrough: where its opening fence is, its text, why it is skipped."""

    line: int
    code: str
    skip: str | None = None


def walkthrough_blocks(markdown: str, *, heading: str = HEADING) -> list[Block]:
    """The ``sh`` blocks from ``heading`` to the next heading, each with its skip marker's reason."""
    lines = markdown.splitlines()
    if heading not in lines:
        raise ValueError(f"no {heading!r} section")
    start = lines.index(heading) + 1
    blocks: list[Block] = []
    fence: str | None = None  # the open block's fence
    info = ""
    opened = 0
    body: list[str] = []
    skip: tuple[int, str] | None = None  # a marker waiting for its block
    for number, text in enumerate(lines[start:], start + 1):
        if fence is not None:
            stripped = text.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                if info == "sh":
                    blocks.append(Block(opened, "\n".join(body), skip[1] if skip else None))
                    skip = None
                fence = None
            else:
                body.append(text)
            continue
        if _HEADING.match(text):
            break
        if opening := _FENCE.match(text):
            fence, info, opened, body = opening["fence"], opening["info"], number, []
            if info in _OTHER_SHELLS:
                raise ValueError(f"line {number}: a {info} block would not be run; write ```sh")
            if skip is not None and info != "sh":
                raise ValueError(f"line {skip[0]}: the skip marker is before a {info or 'plain'} block, not an sh one")
            continue
        if marker := _MARKER.match(text.strip()):
            reason = _SKIP.match(marker["directive"])
            if reason is None:
                raise ValueError(f"line {number}: expected <!-- walkthrough: skip: REASON -->, got {text.strip()!r}")
            skip = (number, reason["reason"])
        elif text.strip() and skip is not None:
            raise ValueError(f"line {skip[0]}: the skip marker is not right before a block")
    if fence is not None:
        raise ValueError(f"line {opened}: the block is not closed")
    if skip is not None:
        raise ValueError(f"line {skip[0]}: the skip marker is not right before a block")
    return blocks


def walkthrough_script(blocks: list[Block]) -> str:
    """One bash script running the blocks in order; a failed command is reported by its README line."""
    lines = _PROLOGUE.splitlines()
    for block in blocks:
        lines.append("")
        if block.skip is not None:
            lines.append(f"# README.md line {block.line}: skipped ({block.skip})")
            continue
        # This line is number len(lines) + 1, the block's first line len(lines) + 2 (README: block.line + 1).
        lines.append(f"WALKTHROUGH_OFFSET={block.line - len(lines) - 1}")
        lines.extend(block.code.splitlines())
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Run:
    """How the script ended and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_script(script: Path, *, cwd: Path, env: dict[str, str], timeout: float = TIMEOUT) -> Run:
    """``bash script`` in its own process group; the whole group is killed if it outlives ``timeout``."""
    process = subprocess.Popen(
        ["bash", str(script)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f"the walkthrough did not finish within {timeout:.0f} s\n{_outputs(stdout, stderr)}")
    # Nothing it started may outlive it: the service must have been stopped and waited for.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 0)
        _kill_group(process.pid, signal.SIGKILL)
        pytest.fail(f"the walkthrough left processes running\n{_outputs(stdout, stderr)}")
    return Run(process.returncode, stdout, stderr)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _outputs(stdout: str, stderr: str) -> str:
    return f"--- stdout\n{stdout}--- stderr\n{stderr}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _json_lines(output: str) -> list[dict[str, Any]]:
    """The lines of ``output`` that are whole JSON objects (curl's answers), in order."""
    found: list[dict[str, Any]] = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    found.append(value)
    return found


def _environment(venv_bin: Path, *, data_dir: Path, port: int) -> dict[str, str]:
    """The caller's environment without forcegate settings, proxies or the walkthrough's variables."""
    dropped = {"VIRTUAL_ENV", "KEYSTORE_PASSWORD", "CONSUMER_SECRET", "SERVICE_URL"}
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FORCEGATE_") and name.lower() not in _PROXY_VARIABLES and name not in dropped
    }
    env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", os.defpath)])
    env["FORCEGATE_DATA_DIR"] = str(data_dir)
    env["FORCEGATE_PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- the walkthrough itself ------------------------------------------------------------------------


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "activate").is_file():
        pytest.skip(f"the walkthrough activates .venv; these tests do not run from a virtualenv ({sys.executable})")
    assert shutil.which("curl"), "the walkthrough calls the service with curl, which is not installed"
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    assert [block for block in blocks if block.skip is None], "the walkthrough has no sh block to run"

    clone = tmp_path / "clone"  # the clone's folder once the README's first command has made .venv
    clone.mkdir()
    (clone / ".venv").symlink_to(venv_bin.parent, target_is_directory=True)
    shutil.copytree(ROOT / "examples", clone / "examples")
    script = tmp_path / "walkthrough.sh"
    script.write_text(walkthrough_script(blocks), encoding="utf-8")
    env = _environment(venv_bin, data_dir=tmp_path / "data", port=_free_port())

    run = run_script(script, cwd=clone, env=env)
    audit = subprocess.run(
        [str(venv_bin / "forcegate"), "audit", "--json"], env=env, capture_output=True, text=True, check=False
    )
    context = f"{script}\n{_outputs(run.stdout, run.stderr)}--- forcegate audit\n{audit.stdout}{audit.stderr}"
    assert run.returncode == 0, context

    answers = _json_lines(run.stdout)
    tokens = [answer for answer in answers if "access_token" in answer]
    assert [(token["token_type"], token["scope"]) for token in tokens] == [("Bearer", "api orders:read")], context
    identities = {answer["source"]: answer for answer in answers if "source" in answer}
    assert identities.keys() == {"jwt-bearer", "canvas"}, context
    who = {"org_id": ORG_ID, "user_id": USER_ID, "username": USERNAME}
    assert identities["jwt-bearer"] | who == identities["jwt-bearer"], context
    assert identities["jwt-bearer"]["issuer"] == ORG_ID
    assert identities["jwt-bearer"]["parameters"] == {"region": "EMEA"}
    assert identities["jwt-bearer"]["scopes"] == ["api", "orders:read"]
    envelope = json.loads((ROOT / "examples" / "canvas-envelope.json").read_text(encoding="utf-8"))
    assert identities["canvas"] | who == identities["canvas"], context
    assert identities["canvas"]["issuer"] == CANVAS_APP
    assert identities["canvas"]["parameters"] == envelope["context"]["environment"]["parameters"]
    assert identities["canvas"]["record_id"] == envelope["context"]["environment"]["record"]["Id"]
    assert {"error": "invalid_grant"} in answers, context  # the replayed assertion

    assert audit.returncode == 0, context
    decisions = [(event["credential"], event["result"], event["code"]) for event in json.loads(audit.stdout)]
    assert sorted(decisions) == sorted(
        [
            ("jwt-bearer", "allowed", "ok"),
            ("access-token", "allowed", "ok"),
            ("jwt-bearer", "denied", "assertion_replayed"),
            ("canvas", "allowed", "ok"),
            ("session", "allowed", "ok"),
        ]
    ), context
    # What it writes in the clone goes to certs/, which git ignores.
    assert sorted(path.name for path in clone.iterdir()) == [".venv", "certs", "examples"], context


def test_the_walkthrough_starts_by_activating_the_venv() -> None:
    # The run above puts the virtualenv on PATH itself, so it would pass without this line; a reader
    # without it gets `forcegate: command not found`.
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    code = "\n".join(block.code for block in blocks if block.skip is None)
    commands = [line.split(" #")[0].strip() for line in code.splitlines() if line.strip() and line[0] != "#"]
    assert commands[0] in ("source .venv/bin/activate", ". .venv/bin/activate"), commands[0]


def test_the_walkthrough_certs_folder_is_ignored_by_git() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    for name in ("certs/acme_jwt.key.pem", "certs/acme_jwt.jks", "certs/cookies.txt"):
        ignored = subprocess.run([git, "check-ignore", "--no-index", "-q", name], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{name} is not ignored by .gitignore"


# --- the harness -----------------------------------------------------------------------------------

_DOC = """\
# Project

```sh
echo before the section
```

## Walkthrough: from Apex to your API

```sh
# 1. a comment, not a heading
echo one
```

```text
not run
```

<!-- walkthrough: skip: needs a Salesforce org -->

```sh
sf project deploy start
```

~~~sh
echo two
~~~

### Reference

```sh
echo after the section
```
"""


def test_only_the_walkthrough_sections_sh_blocks_are_taken() -> None:
    assert walkthrough_blocks(_DOC) == [
        Block(9, "# 1. a comment, not a heading\necho one"),
        Block(20, "sf project deploy start", skip="needs a Salesforce org"),
        Block(24, "echo two"),
    ]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("<!-- walkthrough: skip -->", "expected <!-- walkthrough: skip: REASON -->"),
        ("<!-- walkthrough: ignore: why -->", "expected <!-- walkthrough: skip: REASON -->"),
        ("<!-- walkthrough: skip: why -->\n\nSome text.", "not right before a block"),
        ("<!-- walkthrough: skip: why -->\n```text\nx\n```", "before a text block"),
        ("```bash\necho y\n```", "a bash block would not be run; write ```sh"),
    ],
)
def test_a_marker_or_fence_that_could_leave_out_the_wrong_block_is_an_error(marker: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        walkthrough_blocks(f"{HEADING}\n\n{marker}\n\n```sh\necho x\n```\n")


def test_a_missing_section_or_an_unclosed_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="no '## Walkthrough"):
        walkthrough_blocks("# README\n")
    with pytest.raises(ValueError, match="line 3: the block is not closed"):
        walkthrough_blocks(f"{HEADING}\n\n```sh\necho x\n")


def test_the_script_stops_at_a_failing_pipe_names_its_block_and_stops_background_jobs(tmp_path: Path) -> None:
    script = tmp_path / "walkthrough.sh"
    script.write_text(
        walkthrough_script(
            [
                Block(10, 'sleep 300 &\necho "sleeping $!"'),
                Block(20, "exit 1", skip="needs an org"),
                Block(30, "echo x | false | cat\necho not reached"),
            ]
        ),
        encoding="utf-8",
    )
    run = run_script(script, cwd=tmp_path, env=dict(os.environ), timeout=10)
    assert run.returncode == 1
    assert "sleeping" in run.stdout
    assert "not reached" not in run.stdout
    assert run.stderr == "walkthrough: exit 1 at README.md line 31: cat\n"  # the pipeline's last command
    # run_script fails the test if the background sleep outlived the script.
