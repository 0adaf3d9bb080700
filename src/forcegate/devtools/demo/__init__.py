"""``forcegate demo``: run the service on a throwaway data folder and play Salesforce against it.

Every path a call from Salesforce can take (Canvas, the Apex JWT exchanged for an access token, the
Apex JWT sent directly) ends in the same identity at ``GET /api/v1/me``; the demo shows each
request and answer, checks each one, and leaves nothing running.
"""

from forcegate.devtools.demo.run import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
