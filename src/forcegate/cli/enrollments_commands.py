"""``forcegate enrollments``: the queue of subscriber enrollments (docs/onboarding.md).

Subscriber admins enroll their org's certificate through ``GET /enroll``; what activates an
enrollment is the deployment's ``enrollment_policy``. These commands show the queue and decide what
the policy left to the ISV. Each parses its options and calls the registry, which applies the same
rules as the admin API and audits the decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from forcegate.cli._stores import clean, echo_json, run_with_registry, store_option
from forcegate.registry import Actor, EnrollmentRejectionInput, RegistryService
from forcegate.registry.views import enrollment_view, iso
from forcegate.stores.enrollment_rows import ENROLLMENT_STATES
from forcegate.stores.models import Enrollment, EnrollmentState

__all__ = ["enrollment_line", "enrollments"]

_CLI = Actor(entry="cli", credential="local")


def enrollment_line(enrollment: Enrollment) -> str:
    """``ID  STATE  ORG_ID  USERNAME  FINGERPRINT  CREATED``."""
    return (
        f"{enrollment.enrollment_id}  {enrollment.state}  {enrollment.org_id}  {clean(enrollment.username)}  "
        f"{enrollment.sha256_fingerprint}  {iso(enrollment.created_at)}"
    )


@click.group()
def enrollments() -> None:
    """Subscriber enrollments: certificates orgs asked to have trusted, and the ISV's decisions.

    States: pending_proof (waiting for the org's signed proof), approved (approved before the proof),
    pending_approval (proven, waiting for you), active, rejected, expired.
    """


@enrollments.command("list")
@store_option
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(ENROLLMENT_STATES),
    help="Only enrollments in this state (repeatable).",
)
@click.option("--org", "org_id", metavar="ORG_ID", help="Only this org's.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def enrollments_list(states: tuple[EnrollmentState, ...], org_id: str | None, limit: int, as_json: bool) -> None:
    """List enrollments, newest first.

    One line each: ID STATE ORG_ID USERNAME FINGERPRINT CREATED.
    """

    async def action(registry: RegistryService) -> Sequence[Enrollment]:
        return await registry.enrollments.list_enrollments(states=states, org_id=org_id, limit=limit)

    found = run_with_registry(action)
    if as_json:
        echo_json([enrollment_view(e) for e in found])
        return
    for enrollment in found:
        click.echo(enrollment_line(enrollment))


def _show(enrollment: Enrollment, as_json: bool) -> None:
    if as_json:
        echo_json(enrollment_view(enrollment))
        return
    for name, value in enrollment_view(enrollment).items():
        click.echo(f"{name}: {clean(value)}")


@enrollments.command("show")
@store_option
@click.argument("enrollment_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def enrollments_show(enrollment_id: str, as_json: bool) -> None:
    """Show one enrollment (never its code: only a digest of it is stored)."""

    async def action(registry: RegistryService) -> Enrollment:
        return await registry.enrollments.get(enrollment_id)

    _show(run_with_registry(action), as_json)


@enrollments.command("approve")
@store_option
@click.argument("enrollment_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def enrollments_approve(enrollment_id: str, as_json: bool) -> None:
    """Approve an enrollment.

    A proven one (pending_approval) becomes active at once: the org is registered if it is new and
    its certificate trusted. One still waiting for its proof becomes approved: the proof activates it.
    """

    async def action(registry: RegistryService) -> Enrollment:
        return await registry.enrollments.approve(enrollment_id, actor=_CLI)

    _show(run_with_registry(action), as_json)


@enrollments.command("reject")
@store_option
@click.argument("enrollment_id", metavar="ID")
@click.option("--reason", default="", help="Why (kept with the enrollment and in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def enrollments_reject(enrollment_id: str, reason: str, as_json: bool) -> None:
    """Reject an open enrollment: its code stops working and nothing is trusted."""
    given = EnrollmentRejectionInput(reason=reason)

    async def action(registry: RegistryService) -> Enrollment:
        return await registry.enrollments.reject(enrollment_id, given, actor=_CLI)

    _show(run_with_registry(action), as_json)
