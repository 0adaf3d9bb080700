"""Throughput of ``CanvasVerifier.verify`` beside the bare primitive it is built on.

The bare primitive, measured in the same run on the same signed request: split on the first
``.``, base64-decode the signature, HMAC-SHA256 over the payload string, ``hmac.compare_digest``,
base64-decode the payload and ``json.loads`` it. Everything the verifier adds — size limit, strict
types, id normalisation, the typed read-only model — shows up as the ratio between the two.

Target: the verifier runs at >= 70% of the bare rate. A third line shows verify plus reading the
user, organization, client and parameters, since the typed views are built on first access.

    .venv/bin/python benchmarks/bench_canvas.py [--seconds 3] [--envelope-bytes 3072]

The machine is shared and noisy: the contenders run in interleaved rounds (benchmarks/_harness.py)
and the ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Contender, print_results, run

from forcegate.core.canvas import CanvasVerifier
from forcegate.devtools.canvas_signer import build_envelope, sign_envelope

SECRET = "benchmark-consumer-secret-0123456789"


def make_signed_request(envelope_bytes: int) -> tuple[str, int]:
    """A realistic Aura envelope whose custom parameters pad the JSON to about ``envelope_bytes``."""
    parameters: dict[str, object] = {"accountId": "001xx000003DGWiAAO", "mode": "edit", "flags": [1, 2, 3]}
    envelope = build_envelope(
        org_id="00Dx00000001hxy",
        user_id="005x0000001SyyE",
        parameters=parameters,
        oauth_token="00Dx00000001hxy!AQ" + "x" * 96,
        now=1_700_000_000,
    )
    index = 0
    while len(json.dumps(envelope, separators=(",", ":"))) < envelope_bytes:
        parameters[f"field{index:03d}"] = {"label": f"Field {index}", "value": "lorem ipsum dolor", "n": index}
        envelope["context"]["environment"]["parameters"] = parameters
        index += 1
    return sign_envelope(envelope, SECRET), len(json.dumps(envelope, separators=(",", ":")))


def bare_primitive(signed_request: str, key: bytes) -> Callable[[], object]:
    def operation() -> object:
        encoded_tag, _, payload = signed_request.partition(".")
        tag = base64.b64decode(encoded_tag)
        payload_bytes = payload.encode("ascii")
        if not hmac.compare_digest(hmac.digest(key, payload_bytes, "sha256"), tag):
            raise AssertionError("benchmark request does not verify")
        return json.loads(base64.b64decode(payload_bytes).decode("utf-8"))

    return operation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="total measuring time (default 3)")
    parser.add_argument("--envelope-bytes", type=int, default=3072, help="size of the envelope JSON (default 3072)")
    args = parser.parse_args()

    signed_request, json_size = make_signed_request(args.envelope_bytes)
    verifier = CanvasVerifier([SECRET])

    def verify_and_read() -> object:
        # What a handler typically does next; the typed views are built on first access.
        request = verifier.verify(signed_request)
        return (request.user.user_name, request.organization.name, request.client.instance_url, request.parameters)

    results = run(
        [
            Contender("bare b64+HMAC+compare+json.loads", bare_primitive(signed_request, SECRET.encode())),
            Contender("CanvasVerifier.verify", lambda: verifier.verify(signed_request)),
            Contender("verify + read user/org/client/params", verify_and_read),
        ],
        seconds=args.seconds,
    )
    print_results(
        f"Canvas signed request: envelope JSON {json_size} bytes, signed_request {len(signed_request)} bytes", results
    )
    ratio = results[1].ratio_to_baseline
    verdict = "meets" if ratio >= 0.70 else "MISSES"
    print(f"  verify / bare: {ratio:.0%} (median of interleaved rounds); {verdict} the >= 70% target")


if __name__ == "__main__":
    main()
