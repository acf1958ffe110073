"""jobs/actions.py: the job page offers exactly what the services accept.

For every job state x role, three answers must agree: `job_actions_for` (the
selector), the service itself (called inside a savepoint that is rolled back), and
the buttons the job page renders. The expected table pins which cells are allowed,
so a rule that changed on both sides at once is still caught.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.actions import job_actions_for
from jobs.models import BidStatus, JobStatus, PaymentStatus, ServiceType
from project.exceptions import DomainError
from tests.factories import (
    CleanerFactory,
    CleaningJobFactory,
    ClientBlockFactory,
    ClientFactory,
    JobBidFactory,
    PaymentFactory,
)

pytestmark = pytest.mark.django_db

STATES = ["open", "open_after_start", "assigned", "in_progress", "completed", "paid", "cancelled"]
ROLES = ["client_owner", "other_client", "eligible_cleaner", "assigned_cleaner", "other_cleaner", "blocked_cleaner"]
ACTIONS = ["bid", "accept_bids", "reject_bids", "withdraw", "start", "complete", "cancel", "pay"]

# (state, role) -> the actions allowed; every other cell is refused.
# In the open states "assigned_cleaner" is the cleaner whose bid is pending.
# Every state also holds one pending bid from a spare bidder, so accepting and
# rejecting are tried against the job's state, not against a missing bid.
ALLOWED = {
    ("open", "client_owner"): {"accept_bids", "reject_bids", "cancel"},
    ("open", "eligible_cleaner"): {"bid"},
    ("open", "assigned_cleaner"): {"withdraw"},
    ("open_after_start", "client_owner"): {"reject_bids", "cancel"},
    ("open_after_start", "assigned_cleaner"): {"withdraw"},
    ("assigned", "client_owner"): {"reject_bids", "cancel"},
    ("assigned", "assigned_cleaner"): {"start"},
    ("in_progress", "client_owner"): {"reject_bids"},
    ("in_progress", "assigned_cleaner"): {"complete"},
    ("completed", "client_owner"): {"reject_bids", "pay"},
    ("paid", "client_owner"): {"reject_bids"},
    ("cancelled", "client_owner"): {"reject_bids"},
}


def build(state: str) -> dict:
    """One job in `state` and one user per role."""
    owner = ClientFactory()
    people = {
        "client_owner": owner,
        "other_client": ClientFactory(),
        "eligible_cleaner": CleanerFactory(),
        "assigned_cleaner": CleanerFactory(),
        "other_cleaner": CleanerFactory(profile__service_types=frozenset({ServiceType.OFFICE})),
        "blocked_cleaner": CleanerFactory(),
    }
    ClientBlockFactory(client=owner, cleaner=people["blocked_cleaner"])
    open_state = state.startswith("open")
    start = timezone.now() + (timedelta(hours=-1) if state == "open_after_start" else timedelta(days=3))
    status = {"paid": JobStatus.COMPLETED}.get(state, JobStatus.OPEN if open_state else state)
    job = CleaningJobFactory(
        client=owner,
        scheduled_start=start,
        status=status,
        assigned_cleaner=None if open_state or state == "cancelled" else people["assigned_cleaner"],
    )
    held = JobBidFactory(
        job=job,
        cleaner=people["assigned_cleaner"],
        amount=Decimal("95.50"),
        status=BidStatus.PENDING if open_state else BidStatus.ACCEPTED if state != "cancelled" else BidStatus.REJECTED,
    )
    spare = JobBidFactory(job=job, cleaner=CleanerFactory(), status=BidStatus.PENDING)
    if state == "paid":
        PaymentFactory(job=job, payer=owner, payee=people["assigned_cleaner"], amount=held.amount)
    return {"job": job, "people": people, "held": held, "spare": spare}


class _RolledBack(Exception):
    pass


def service_accepts(call) -> tuple[bool, str]:
    """(accepted, refusal message): run one service call and undo whatever it wrote."""
    try:
        with transaction.atomic():
            call()
            raise _RolledBack
    except _RolledBack:
        return True, ""
    except DomainError as refusal:
        return False, refusal.message


def service_answers(world: dict, user) -> dict[str, tuple[bool, str]]:
    job, held, spare = world["job"], world["held"], world["spare"]
    own_bid = held if held.cleaner_id == user.pk and held.status in (BidStatus.PENDING, BidStatus.ACCEPTED) else None
    calls = {
        "bid": lambda: services.bid_place(job=job, cleaner=user, amount=Decimal("90.00")),
        "accept_bids": lambda: services.bid_accept(bid=spare, client=user),
        "reject_bids": lambda: services.bid_reject(bid=spare, client=user),
        "withdraw": (lambda: services.bid_withdraw(bid=own_bid, cleaner=user)) if own_bid else None,
        "start": lambda: services.job_start(job=job, cleaner=user),
        "complete": lambda: services.job_complete(job=job, cleaner=user),
        "cancel": lambda: services.job_cancel(job=job, client=user),
        "pay": lambda: services.payment_create(job=job, payer=user),
    }
    return {name: service_accepts(call) if call else (False, "You have no bid to withdraw.") for name, call in calls.items()}


# The form each action posts to, as the job page renders it.
def page_forms(world: dict) -> dict[str, str]:
    job, held, spare = world["job"], world["held"], world["spare"]
    return {
        "bid": reverse("jobs:bid-place", args=[job.pk]),
        "accept_bids": reverse("jobs:bid-accept", args=[spare.pk]),
        "reject_bids": reverse("jobs:bid-reject", args=[spare.pk]),
        "withdraw": reverse("jobs:bid-withdraw", args=[held.pk]),
        "start": reverse("jobs:start", args=[job.pk]),
        "complete": reverse("jobs:complete", args=[job.pk]),
        "cancel": reverse("jobs:cancel", args=[job.pk]),
        "pay": reverse("jobs:pay", args=[job.pk]),
    }


@pytest.mark.parametrize("state", STATES)
def test_the_selector_the_service_and_the_page_agree_for_every_role(state):
    world = build(state)
    for role in ROLES:
        user = world["people"][role]
        actions = job_actions_for(job=world["job"], user=user)
        offered = {name for name in ACTIONS if getattr(actions, f"can_{name}")}
        answers = service_answers(world, user)
        accepted = {name for name, (ok, _message) in answers.items() if ok}

        assert offered == accepted == ALLOWED.get((state, role), set()), (state, role)
        # A refused action carries the very message the service answers with.
        assert actions.refusals == {name: message for name, (ok, message) in answers.items() if not ok}, (state, role)

        browser = Client()
        browser.force_login(user)
        page = browser.get(reverse("jobs:detail", args=[world["job"].pk]))
        if page.status_code == 404:
            assert accepted == set(), (state, role)  # a job you cannot see offers you nothing
            continue
        html = page.content.decode()
        shown = {name for name, url in page_forms(world).items() if f'action="{url}"' in html}
        assert shown == accepted, (state, role)


def test_the_pay_button_and_the_payment_charge_the_accepted_bid_else_the_budget():
    world = build("completed")
    owner = world["people"]["client_owner"]
    actions = job_actions_for(job=world["job"], user=owner)
    assert actions.amount_due == Decimal("95.50")
    browser = Client()
    browser.force_login(owner)
    assert "Pay €95.50</button>" in browser.get(reverse("jobs:detail", args=[world["job"].pk])).content.decode()

    no_bid = CleaningJobFactory(status=JobStatus.COMPLETED, budget=Decimal("1234.50"), assigned_cleaner=CleanerFactory())
    assert job_actions_for(job=no_bid, user=no_bid.client).amount_due == Decimal("1234.50")
    payment = services.payment_create(job=no_bid, payer=no_bid.client)
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, Decimal("1234.50"))


def test_only_the_payer_is_told_the_amount_due():
    world = build("completed")
    assert job_actions_for(job=world["job"], user=world["people"]["assigned_cleaner"]).amount_due is None
