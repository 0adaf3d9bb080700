"""Running wrk (https://github.com/wg/wrk) from Python: Lua scripts, one run, its results.

Every script this module writes ends with the same ``done()`` hook, which prints one line
``FGBENCH {json}`` with wrk's own counters (requests, duration, socket errors, non-2xx/3xx
responses, latency percentiles in µs): no scraping of wrk's human-readable report.

Request pools (:func:`pool_script`) are read from a data file, one item per line, and formatted
into complete HTTP requests in ``init()``, before wrk starts its clock. A ``once`` pool sends each
item at most once (single-use assertions): when it runs out, wrk is NOT allowed to reuse an item;
it sends ``GET`` :data:`EXHAUSTED_PATH` instead, which the server answers 404 (counted as an error
by wrk) and the pool counts in ``exhausted``, and records how long the pool lasted (``pool_seconds``,
from ``date +%s.%N``: wrk's Lua has no clock), so the rate while it lasted is still known. A
``cycle`` pool goes round-robin (access tokens).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "EXHAUSTED_PATH",
    "MARKER",
    "REPORT_FUNCTION",
    "WrkMissing",
    "WrkResult",
    "lua_string",
    "parse_report",
    "pool_script",
    "run_wrk",
    "static_script",
    "wrk_path",
]

MARKER = "FGBENCH "
EXHAUSTED_PATH = "/__forcegate_bench_pool_exhausted__"


class WrkMissing(RuntimeError):
    """wrk is not on PATH."""


@dataclass(frozen=True)
class WrkResult:
    requests: int  # completed requests, whatever their status
    duration_s: float
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_errors: int  # responses with status > 399
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    exhausted: int  # requests sent after a "once" pool ran out (each also a status error)
    pool_seconds: float | None  # how long the "once" pool lasted, when it ran out (wall clock, via date(1))
    report: str  # wrk's own text output, for the record

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def errors(self) -> int:
        return self.socket_errors + self.status_errors


def lua_string(text: str) -> str:
    """A quoted Lua string literal for ASCII ``text`` (JSON's escapes for ASCII are valid Lua escapes)."""
    if not text.isascii():
        raise ValueError(f"not ASCII, cannot be quoted for Lua: {text!r}")
    return json.dumps(text)


# ``fgbench_report(summary, latency, exhausted, pool_seconds)``: prints the ``FGBENCH`` line that
# :func:`parse_report` reads. Shared by every script written here and by benchmarks/load's.
REPORT_FUNCTION = r"""
local function fgbench_report(summary, latency, exhausted, pool_seconds)
  local e = summary.errors
  io.write(string.format(
    'FGBENCH {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"status":%d,"p50_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,"max_us":%.1f,"exhausted":%d,' ..
    '"pool_seconds":%.6f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0), latency.mean, latency.max, exhausted, pool_seconds))
end
"""

_DONE_HOOK = (
    REPORT_FUNCTION
    + r"""
local fgbench_threads = {}

function setup(thread)
  thread:set("fgbench_id", #fgbench_threads)
  table.insert(fgbench_threads, thread)
end

function done(summary, latency, requests)
  local exhausted = 0
  local pool_seconds = -1
  for _, thread in ipairs(fgbench_threads) do
    exhausted = exhausted + (tonumber(thread:get("fgbench_exhausted")) or 0)
    pool_seconds = math.max(pool_seconds, tonumber(thread:get("fgbench_pool_seconds")) or -1)
  end
  fgbench_report(summary, latency, exhausted, pool_seconds)
end
"""
)


def static_script(method: str, path: str, headers: dict[str, str], body: str | None = None) -> str:
    """A script sending the same request every time (wrk's pre-built request: the cheapest client)."""
    lines = [f"wrk.method = {lua_string(method)}", f"wrk.path = {lua_string(path)}"]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    return "\n".join(lines) + "\n" + _DONE_HOOK


def pool_script(
    data_file: Path,
    *,
    mode: Literal["once", "cycle"],
    method: str,
    path: str,
    headers: dict[str, str],
    item_in: Literal["body", "header"],
    prefix: str = "",
    header_name: str = "Authorization",
    threads: int = 1,
) -> str:
    """A script sending one request per line of ``data_file``: ``prefix + line`` as the body or as a header.

    With several wrk threads, thread ``k`` takes lines ``k, k + threads, …`` so no item is shared.
    """
    fixed = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"
    return (
        f"""
local data_file = {lua_string(str(data_file))}
local mode = {lua_string(mode)}
local item_in = {lua_string(item_in)}
local prefix = {lua_string(prefix)}
local header_name = {lua_string(header_name)}
local nthreads = {int(threads)}
local pool = {{}}
local n = 0
local i = 0
local exhausted_request = nil
local started = nil
fgbench_exhausted = 0
fgbench_pool_seconds = -1

-- Wall-clock seconds (wrk's Lua has no clock): called once after init and once when the pool runs out.
local function now()
  local pipe = io.popen("date +%s.%N")
  if pipe == nil then
    return nil
  end
  local value = tonumber(pipe:read("*l"))
  pipe:close()
  return value
end

function init(args)
  local id = tonumber(wrk.thread:get("fgbench_id")) or 0
  local index = 0
  for line in io.lines(data_file) do
    if line ~= "" then
      if index % nthreads == id then
        local h = {fixed}
        local body = nil
        if item_in == "body" then
          body = prefix .. line
        else
          h[header_name] = prefix .. line
        end
        n = n + 1
        pool[n] = wrk.format({lua_string(method)}, {lua_string(path)}, h, body)
      end
      index = index + 1
    end
  end
  exhausted_request = wrk.format("GET", {lua_string(EXHAUSTED_PATH)})
  if mode == "once" then
    started = now()
  end
end

function request()
  i = i + 1
  if i > n then
    if mode == "cycle" and n > 0 then
      i = 1
    else
      if fgbench_exhausted == 0 and started ~= nil then
        local stopped = now()
        if stopped ~= nil then
          fgbench_pool_seconds = stopped - started
        end
      end
      fgbench_exhausted = fgbench_exhausted + 1
      return exhausted_request
    end
  end
  return pool[i]
end
"""
        + _DONE_HOOK
    )


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("wrk is not installed")
    return found


def parse_report(output: str) -> WrkResult:
    """The result from wrk's stdout (the ``FGBENCH`` line printed by the ``done()`` hook)."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise ValueError("wrk printed no FGBENCH line: did the script's done() hook run?")
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=int(data["duration_us"]) / 1e6,
        connect_errors=int(data["connect"]),
        read_errors=int(data["read"]),
        write_errors=int(data["write"]),
        timeouts=int(data["timeout"]),
        status_errors=int(data["status"]),
        p50_ms=float(data["p50_us"]) / 1000.0,
        p99_ms=float(data["p99_us"]) / 1000.0,
        mean_ms=float(data["mean_us"]) / 1000.0,
        max_ms=float(data["max_us"]) / 1000.0,
        exhausted=int(data["exhausted"]),
        pool_seconds=float(data["pool_seconds"]) if float(data.get("pool_seconds", -1)) > 0 else None,
        report=output,
    )


def run_wrk(
    url: str, script: Path, *, seconds: int, connections: int, threads: int = 1, timeout_s: int = 5
) -> WrkResult:
    """Run wrk with ``--latency`` against ``url`` for ``seconds`` (whole seconds: wrk's -d takes no fractions)."""
    command = [
        wrk_path(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, seconds)}s",
        f"--timeout={timeout_s}s",
        "--latency",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited {completed.returncode}: {completed.stderr.strip() or completed.stdout[-500:]}")
    return parse_report(completed.stdout)
