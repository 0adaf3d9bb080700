"""The mixed workload as one wrk Lua script, and its per-kind results.

Four kinds of request, mixed by weight (a smooth weighted round-robin, so a 20/10/60/10 mix sends
exactly that share of each kind, evenly interleaved):

* ``token``: ``POST /oauth2/token``, a fresh single-use assertion each (a ``once`` pool);
* ``jwt``: ``GET /api/v1/me`` with an Apex JWT sent directly as the bearer credential (single use
  there too: a ``once`` pool);
* ``api``: ``GET /api/v1/me`` with an access token (a ``cycle`` pool: Apex caches its token);
* ``canvas``: ``POST /canvas`` with a signed request (a ``cycle`` pool: Canvas has no replay rule;
  each post opens a session).

Per-kind status and latency, measured inside wrk: wrk's Lua API has no connection handle in
``response()``, so a response cannot be matched to its request when a thread drives several
connections. The script is therefore run with ONE connection per wrk thread (``--threads`` equal to
``--connections``): on a connection requests and responses alternate, so ``request()`` notes the kind
and a timestamp (``clock_gettime`` through LuaJIT's FFI: wrk's Lua has no clock of its own) and the
next ``response()`` on that thread is that request's. A ``request()`` while one is still unanswered
means wrk gave up on it (a socket error, then a reconnect): counted as ``lost`` for its kind.

Latencies go into a per-kind histogram with 2% wide buckets; ``done()`` sums every thread's counters
and prints one ``FGLOAD {json}`` line beside _wrk.py's ``FGBENCH`` line (wrk's own totals). These are
the latencies as measured: wrk's own percentiles include its coordinated-omission correction
(``stats_correct``: synthetic samples for every response slower than the mean interval), so its p99
reads higher than the same run's per-kind figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from _http_load import FORM_PREFIX, FORM_TYPE
from _wrk import EXHAUSTED_PATH, REPORT_FUNCTION, lua_string

__all__ = ["KINDS", "KindResult", "Mix", "PoolFile", "mixed_script", "parse_kinds", "schedule"]

KINDS = ("token", "jwt", "api", "canvas")
LOAD_MARKER = "FGLOAD "
BUCKET_BASE = 1.02  # histogram bucket b holds latencies in [1.02**b, 1.02**(b + 1)) µs

#: What each kind sends and the status that means success.
REQUESTS: dict[str, tuple[str, str, dict[str, str], Literal["body", "header"], str, int]] = {
    "token": ("POST", "/oauth2/token", FORM_TYPE, "body", FORM_PREFIX, 200),
    "jwt": ("GET", "/api/v1/me", {}, "header", "Bearer ", 200),
    "api": ("GET", "/api/v1/me", {}, "header", "Bearer ", 200),
    "canvas": ("POST", "/canvas", FORM_TYPE, "body", "", 303),
}
ENDPOINTS = {
    "token": "POST /oauth2/token",
    "jwt": "GET /api/v1/me (direct JWT)",
    "api": "GET /api/v1/me (access token)",
    "canvas": "POST /canvas",
}


@dataclass(frozen=True)
class Mix:
    """Weights per kind (whole numbers; a kind of weight 0 is not sent)."""

    weights: Mapping[str, int]

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``token=20,jwt=10,api=60,canvas=10``; kinds left out weigh 0."""
        weights = dict.fromkeys(KINDS, 0)
        for part in text.split(","):
            if not part.strip():
                continue
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in weights:
                raise ValueError(f"unknown kind {name!r} (kinds: {', '.join(KINDS)})")
            try:
                weights[name] = int(value)
            except ValueError:
                raise ValueError(f"the weight of {name} must be a whole number, not {value.strip()!r}") from None
            if weights[name] < 0:
                raise ValueError(f"the weight of {name} must not be negative")
        if not any(weights.values()):
            raise ValueError("the mix sends nothing: give at least one kind a positive weight")
        return cls(weights)

    def share(self, kind: str) -> float:
        return self.weights[kind] / sum(self.weights.values())

    def text(self) -> str:
        return " ".join(f"{kind}={self.weights[kind]}" for kind in KINDS)


def schedule(mix: Mix) -> list[int]:
    """One cycle of the smooth weighted round-robin (nginx's): kind indices (1-based, for Lua)."""
    weights = [mix.weights[kind] for kind in KINDS]
    divisor = math.gcd(*weights)
    weights = [w // divisor for w in weights]
    current = [0] * len(weights)
    order = []
    for _ in range(sum(weights)):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        chosen = max(range(len(weights)), key=lambda i: current[i])
        current[chosen] -= sum(weights)
        order.append(chosen + 1)
    return order


@dataclass(frozen=True)
class PoolFile:
    """A data file, one item per line: sent once each (``once``) or round-robin (``cycle``)."""

    path: Path
    count: int
    mode: Literal["once", "cycle"]


def mixed_script(mix: Mix, pools: Mapping[str, PoolFile], *, threads: int) -> str:
    """The Lua script: pools loaded and formatted in ``init()`` (before wrk's clock starts).

    Each thread takes lines ``id, id + threads, …`` of a pool holding at least ``threads`` items (no
    single-use item is shared), else the whole pool.
    """
    rows = []
    for kind in KINDS:
        method, path, headers, item_in, prefix, _ = REQUESTS[kind]
        pool = pools.get(kind)
        fixed = "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()) + "}"
        rows.append(
            "  {"
            f"name = {lua_string(kind)}, file = {lua_string(str(pool.path) if pool else '')}, "
            f"count = {pool.count if pool else 0}, mode = {lua_string(pool.mode if pool else 'cycle')}, "
            f"method = {lua_string(method)}, path = {lua_string(path)}, headers = function() return {fixed} end, "
            f"item_in = {lua_string(item_in)}, prefix = {lua_string(prefix)}"
            "}"
        )
    order = ", ".join(str(i) for i in schedule(mix))
    kinds_table = ",\n".join(rows)
    return REPORT_FUNCTION + (
        f"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} fgload_timespec;
int clock_gettime(int clk_id, fgload_timespec *tp);
]]
local fgload_ts = ffi.new("fgload_timespec")
local CLOCK_MONOTONIC = 1
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, fgload_ts)
  return tonumber(fgload_ts.tv_sec) * 1000000 + tonumber(fgload_ts.tv_nsec) / 1000
end

local kinds = {{
{kinds_table}
}}
local order = {{{order}}}
local nthreads = {int(threads)}
local log_base = math.log({BUCKET_BASE})

-- Flat counters (wrk copies a thread's globals to done() one table level deep):
-- "kind|status" responses, "kind|h|bucket" latency histogram, "kind|lost", "kind|exhausted".
fgload_stats = {{}}
local pools = {{}}
local positions = {{}}
local slot = 0
local pending = nil
local pending_start = 0
local exhausted_request = nil
local threads = {{}}
local thread_id = 0
local calls = 0

local function bump(key)
  fgload_stats[key] = (fgload_stats[key] or 0) + 1
end

function setup(thread)
  thread:set("fgload_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local id = tonumber(wrk.thread:get("fgload_id")) or 0
  thread_id = id
  for k, kind in ipairs(kinds) do
    local pool = {{}}
    if kind.count > 0 then
      local shared = kind.count < nthreads
      local index = 0
      for line in io.lines(kind.file) do
        if line ~= "" then
          if shared or index % nthreads == id then
            local h = kind.headers()
            local body = nil
            if kind.item_in == "body" then
              body = kind.prefix .. line
            else
              h["Authorization"] = kind.prefix .. line
            end
            pool[#pool + 1] = wrk.format(kind.method, kind.path, h, body)
          end
          index = index + 1
        end
      end
    end
    pools[k] = pool
    positions[k] = 0
  end
  exhausted_request = wrk.format("GET", {lua_string(EXHAUSTED_PATH)})
  slot = (id * 7) % #order
end

function request()
  calls = calls + 1
  -- An unanswered previous request was lost (wrk reconnected after a socket error); except after
  -- the first call on thread 0, which wrk makes only to check the script's request (never sent).
  if pending ~= nil and pending ~= "" and not (thread_id == 0 and calls == 2) then
    bump(pending .. "|lost")
  end
  slot = slot % #order + 1
  local k = order[slot]
  local kind = kinds[k]
  local pool = pools[k]
  local i = positions[k] + 1
  if i > #pool then
    if kind.mode == "cycle" and #pool > 0 then
      i = 1
    else
      bump(kind.name .. "|exhausted")
      pending = ""  -- its 404 is not the kind's response
      return exhausted_request
    end
  end
  positions[k] = i
  pending = kind.name
  pending_start = now_us()
  return pool[i]
end

function response(status, headers, body)
  local name = pending
  pending = nil
  if name == nil or name == "" then
    return
  end
  local us = now_us() - pending_start
  if us < 1 then
    us = 1
  end
  bump(name .. "|" .. status)
  bump(name .. "|h|" .. math.floor(math.log(us) / log_base))
end

function done(summary, latency, requests)
  local total = {{}}
  local exhausted = 0
  for _, thread in ipairs(threads) do
    local stats = thread:get("fgload_stats")
    if type(stats) == "table" then
      for key, value in pairs(stats) do
        total[key] = (total[key] or 0) + value
        if key:sub(-10) == "|exhausted" then
          exhausted = exhausted + value
        end
      end
    end
  end
  local parts = {{}}
  for key, value in pairs(total) do
    parts[#parts + 1] = string.format('"%s":%d', key, value)
  end
  io.write("{LOAD_MARKER}{{" .. table.concat(parts, ",") .. "}}\\n")
  fgbench_report(summary, latency, exhausted, -1)
end
"""
    )


@dataclass
class KindResult:
    """One kind's share of a mixed run, measured per request inside wrk."""

    kind: str
    duration_s: float
    statuses: dict[int, int] = field(default_factory=dict)
    histogram: dict[int, int] = field(default_factory=dict)
    lost: int = 0  # sent, never answered (socket error, timeout): wrk reconnected
    exhausted: int = 0  # a single-use pool ran out: nothing of this kind was sent in its turn

    @property
    def expected(self) -> int:
        return REQUESTS[self.kind][5] if self.kind in REQUESTS else 0  # "all" (merged kinds): none

    @property
    def ok(self) -> int:
        return self.statuses.get(self.expected, 0)

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def bad_status(self) -> int:
        return self.responses - self.ok

    @property
    def errors(self) -> int:
        return self.bad_status + self.lost + self.exhausted

    @property
    def rps(self) -> float:
        return self.responses / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the responses fell (bucket midpoint, ±1%)."""
        count = sum(self.histogram.values())
        if not count:
            return math.nan
        rank = max(1, math.ceil(fraction * count))
        seen = 0
        for bucket in sorted(self.histogram):
            seen += self.histogram[bucket]
            if seen >= rank:
                return float(BUCKET_BASE ** (bucket + 0.5) / 1000.0)
        raise AssertionError("unreachable: the ranks add up to the count")

    @classmethod
    def merged(cls, kind: str, parts: Sequence[KindResult]) -> KindResult:
        """Several runs (or several kinds, for ``kind="all"``) as one: counts and histograms added."""
        total = cls(kind, sum(p.duration_s for p in parts) / max(1, len({p.kind for p in parts})))
        for part in parts:
            for status, n in part.statuses.items():
                total.statuses[status] = total.statuses.get(status, 0) + n
            for bucket, n in part.histogram.items():
                total.histogram[bucket] = total.histogram.get(bucket, 0) + n
            total.lost += part.lost
            total.exhausted += part.exhausted
        return total

    def status_text(self) -> str:
        """The unexpected statuses, most frequent first: ``401x12 503x3``."""
        bad = sorted(((n, s) for s, n in self.statuses.items() if s != self.expected), reverse=True)
        return " ".join(f"{status}x{n}" for n, status in bad)


def parse_kinds(output: str, duration_s: float) -> dict[str, KindResult]:
    """Per-kind results from wrk's stdout (the ``FGLOAD`` line of :func:`mixed_script`'s ``done()``)."""
    for line in reversed(output.splitlines()):
        if line.startswith(LOAD_MARKER):
            counters: dict[str, int] = json.loads(line[len(LOAD_MARKER) :])
            break
    else:
        raise ValueError("wrk printed no FGLOAD line: did the load script's done() hook run?")
    results = {kind: KindResult(kind, duration_s) for kind in KINDS}
    for key, value in counters.items():
        parts = key.split("|")
        result = results[parts[0]]
        if parts[1] == "h":
            result.histogram[int(parts[2])] = result.histogram.get(int(parts[2]), 0) + value
        elif parts[1] == "lost":
            result.lost += value
        elif parts[1] == "exhausted":
            result.exhausted += value
        else:
            result.statuses[int(parts[1])] = result.statuses.get(int(parts[1]), 0) + value
    return results
