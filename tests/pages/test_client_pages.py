"""The client's pages: post a job, my jobs, the job page and its actions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import services
from jobs.models import BidStatus, CleaningJob, JobMessage, JobStatus, Payment, PaymentStatus
from project.exceptions import ActionForbidden
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory, PaymentFactory

pytestmark = pytest.mark.django_db


def job_data(**changes):
    data = {
        "title": "Deep clean before moving in",
        "service_type": "deep",
        "description": "Two rooms.",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "scheduled_start": (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "duration_hours": "3.5",
        "budget": "150.00",
    }
    data.update(changes)
    return data


def errors_of(response, field):
    return response.context["form"].errors.get(field, [])


# --- post a job ---------------------------------------------------------------------


def test_post_a_job_form_renders(as_client):
    response = as_client.get("/jobs/new/")
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("title", "service_type", "address", "city", "scheduled_start", "duration_hours", "budget"):
        assert f'name="{name}"' in body
    assert 'type="datetime-local"' in body
    # A client knows an address, not coordinates: those are only the map pin's hidden fields.
    assert '<input type="hidden" name="latitude" id="id_latitude">' in body
    assert '<input type="hidden" name="longitude" id="id_longitude">' in body
    assert 'data-lookup-url="/places/lookup/"' in body
    assert 'data-tiles-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in body
    assert "/static/jobs/vendor/leaflet/leaflet.js" in body


def test_without_a_tiles_url_the_form_has_no_map(as_client, settings):
    settings.MAP_TILES_URL = ""
    body = as_client.get("/jobs/new/").content.decode()
    assert "data-place-map" not in body and "leaflet" not in body
    assert 'name="address"' in body


def test_posting_a_job_creates_it_and_opens_its_page(as_client, client_user):
    response = as_client.post("/jobs/new/", job_data())
    job = CleaningJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.client == client_user and job.status == JobStatus.OPEN
    assert job.budget == Decimal("150.00") and job.duration_hours == Decimal("3.5")
    page = as_client.get(response["Location"])
    assert "Your job is posted" in page.content.decode()


def test_empty_form_shows_required_errors_per_field(as_client):
    response = as_client.post("/jobs/new/", {})
    assert response.status_code == 400
    for field in ("title", "service_type", "address", "city", "scheduled_start", "duration_hours", "budget"):
        assert errors_of(response, field) == ["This field is required."], field
    assert set(response.context["form"].errors) == {"title", "service_type", "address", "city", "scheduled_start", "duration_hours", "budget"}
    body = response.content.decode()
    assert 'aria-invalid="true"' in body
    assert "Please fix the highlighted fields." in body
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("budget", "0", "Ensure this value is greater than or equal to 1."),
        ("budget", "abc", "Enter a number."),
        ("duration_hours", "0.2", "Ensure this value is greater than or equal to 0.5."),
        ("duration_hours", "100", "Ensure this value is less than or equal to 72."),
        ("service_type", "laundry", "Select a valid choice. laundry is not one of the available choices."),
        ("scheduled_start", "tomorrow", "Enter a valid date/time."),
        ("title", "x" * 121, "Ensure this value has at most 120 characters (it has 121)."),
    ],
)
def test_bad_input_is_a_field_error(as_client, field, value, message):
    response = as_client.post("/jobs/new/", job_data(**{field: value}))
    assert response.status_code == 400
    assert message in errors_of(response, field)
    assert not CleaningJob.objects.exists()


def test_the_job_is_placed_where_its_address_is(as_client):
    response = as_client.post("/jobs/new/", job_data(address="Prinsengracht 263-267, 1016 GV", city="amsterdam"))
    assert response.status_code == 302
    job = CleaningJob.objects.get()
    assert (job.address, job.city) == ("Prinsengracht 263-267, 1016 GV", "amsterdam")
    assert (job.latitude, job.longitude) == (52.3703, 4.8826)


def test_a_pin_moved_near_the_address_places_the_job_there(as_client):
    response = as_client.post("/jobs/new/", job_data(address="Damrak 1", latitude="52.3770", longitude="4.8970"))
    assert response.status_code == 302
    job = CleaningJob.objects.get()
    assert (job.latitude, job.longitude) == (52.377, 4.897)


def test_a_pin_dragged_far_from_the_address_is_refused(as_client):
    response = as_client.post("/jobs/new/", job_data(address="Damrak 1", latitude="52.3540", longitude="5.0030"))
    assert response.status_code == 400
    assert errors_of(response, "address") == [
        "The pin is 7.6 km from Damrak, Centrum, Amsterdam. Move it back near the address, or correct the address."
    ]
    assert not CleaningJob.objects.exists()


@pytest.mark.parametrize("latitude, longitude", [("200", "4.9"), ("nan", "4.9"), ("52.37", ""), ("x", "y")])
def test_a_broken_or_half_pin_counts_as_no_pin(as_client, latitude, longitude):
    response = as_client.post("/jobs/new/", job_data(address="Damrak 1", latitude=latitude, longitude=longitude))
    assert response.status_code == 302
    job = CleaningJob.objects.get()
    assert (job.latitude, job.longitude) == (52.3757, 4.8962)


def test_the_map_looks_an_address_up_by_the_same_rule(as_client):
    response = as_client.get("/places/lookup/", {"address": "damrak 1, 1012 LG", "city": "Amsterdam"})
    assert response.status_code == 200
    assert response.json() == {"latitude": 52.3757, "longitude": 4.8962, "label": "Damrak, Centrum, Amsterdam"}

    response = as_client.get("/places/lookup/", {"address": "Nowhere Lane 9", "city": "Amsterdam"})
    assert response.status_code == 400
    assert response.json() == {"errors": {"address": [
        "We could not find that address in Amsterdam: check the street or district name "
        "(a house number and postcode after it are fine)."
    ]}}


def test_the_map_lookup_is_for_signed_in_users_only(client):
    response = client.get("/places/lookup/", {"address": "Damrak 1", "city": "Amsterdam"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("address, city", [("Nowhere Lane 9", "Amsterdam"), ("Damrak 1", "Rotterdam")])
def test_an_address_that_cannot_be_found_is_a_field_error_and_no_job(as_client, address, city):
    response = as_client.post("/jobs/new/", job_data(address=address, city=city))
    assert response.status_code == 400
    assert errors_of(response, "address") == [
        f"We could not find that address in {city}: check the street or district name "
        "(a house number and postcode after it are fine)."
    ]
    assert 'id="id_address_error"' in response.content.decode()
    assert not CleaningJob.objects.exists()


def test_a_start_in_the_past_is_refused(as_client):
    past = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = as_client.post("/jobs/new/", job_data(scheduled_start=past))
    assert response.status_code == 400
    assert errors_of(response, "scheduled_start") == ["The start must be in the future."]


def test_a_service_validation_error_lands_on_its_field(as_client, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"title": ["Not that title."], "elsewhere": ["Something else."]})

    monkeypatch.setattr(services, "job_create", refuse)
    response = as_client.post("/jobs/new/", job_data())
    assert response.status_code == 400
    assert errors_of(response, "title") == ["Not that title."]
    assert response.context["form"].non_field_errors() == ["Something else."]


def test_a_domain_error_is_a_form_error(as_client, monkeypatch):
    def refuse(**kwargs):
        raise ActionForbidden("You may not post jobs.")

    monkeypatch.setattr(services, "job_create", refuse)
    response = as_client.post("/jobs/new/", job_data())
    assert response.status_code == 400
    assert "You may not post jobs." in response.content.decode()


def test_a_cleaner_is_sent_to_the_board_instead(as_cleaner):
    response = as_cleaner.get("/jobs/new/")
    assert response.status_code == 302 and response["Location"] == "/board/"
    response = as_cleaner.post("/jobs/new/", job_data())
    assert response.status_code == 302 and not CleaningJob.objects.exists()


# --- my jobs ------------------------------------------------------------------------


def test_my_jobs_lists_only_mine_with_bid_counts(as_client, client_user):
    mine = CleaningJobFactory(client=client_user, title="Mine")
    JobBidFactory.create_batch(2, job=mine)
    CleaningJobFactory(title="Somebody else's")
    response = as_client.get("/jobs/mine/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Mine" in body and "Somebody else" not in body
    assert "2 bids" in body


def test_my_jobs_filters(as_client, client_user):
    CleaningJobFactory(client=client_user, title="Still open")
    CleaningJobFactory(client=client_user, title="All done", status=JobStatus.COMPLETED)
    active = as_client.get("/jobs/mine/?status=active").content.decode()
    finished = as_client.get("/jobs/mine/?status=finished").content.decode()
    assert "Still open" in active and "All done" not in active
    assert "All done" in finished and "Still open" not in finished
    assert as_client.get("/jobs/mine/?status=bogus").status_code == 200


def test_my_jobs_empty_state(as_client):
    assert "No jobs here yet" in as_client.get("/jobs/mine/").content.decode()


# --- the job page ---------------------------------------------------------------------


def test_job_page_shows_bids_with_accept_and_decline(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job, amount=Decimal("95.00"), message="Happy to help")
    response = as_client.get(f"/jobs/{job.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Happy to help" in body and "€95.00" in body
    assert f'action="/bids/{bid.pk}/accept/"' in body and f'action="/bids/{bid.pk}/reject/"' in body
    assert f'data-live-job="{job.pk}"' in body
    assert f'action="/jobs/{job.pk}/cancel/"' in body


def test_after_the_start_the_job_page_offers_decline_but_not_accept(as_client, client_user):
    # The service refuses to accept a bid once the start has passed; the page must not offer it.
    job = CleaningJobFactory(client=client_user, scheduled_start=timezone.now() - timedelta(minutes=5))
    bid = JobBidFactory(job=job)
    body = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'action="/bids/{bid.pk}/accept/"' not in body
    assert f'action="/bids/{bid.pk}/reject/"' in body
    assert f'action="/jobs/{job.pk}/cancel/"' in body


def test_money_reads_one_way_on_every_page(as_client, client_user, login):
    job = CleaningJobFactory(client=client_user, budget=Decimal("12345.5"))
    bid = JobBidFactory(job=job, amount=Decimal("9999.99"))
    assert "€12,345.50" in as_client.get("/jobs/mine/").content.decode()
    page = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert page.count("€12,345.50") == 1 and page.count("€9,999.99") == 1
    assert "€9,999.99" in login(bid.cleaner).get("/bids/mine/").content.decode()


@pytest.mark.parametrize("who", ["other_client", "stranger_cleaner"])
def test_other_peoples_jobs_are_404(login, who):
    job = CleaningJobFactory()
    user = ClientFactory() if who == "other_client" else CleanerFactory(profile__latitude=48.85, profile__longitude=2.35)
    browser = login(user)
    assert browser.get(f"/jobs/{job.pk}/").status_code == 404
    for name in ("status", "bids", "messages"):
        assert browser.get(f"/jobs/{job.pk}/fragments/{name}/").status_code == 404
    assert browser.get("/jobs/999999/").status_code == 404


def test_fragments_render_each_section(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    JobBidFactory(job=job, message="Fragment bid")
    bids = as_client.get(f"/jobs/{job.pk}/fragments/bids/")
    assert bids.status_code == 200 and "Fragment bid" in bids.content.decode()
    assert bids["Cache-Control"] == "no-store"
    assert 'data-fragment="status"' in as_client.get(f"/jobs/{job.pk}/fragments/status/").content.decode()
    assert 'data-fragment="messages"' in as_client.get(f"/jobs/{job.pk}/fragments/messages/").content.decode()
    assert as_client.get(f"/jobs/{job.pk}/fragments/nope/").status_code == 404


def test_accepting_a_bid_assigns_the_job(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    winner, loser = JobBidFactory(job=job), JobBidFactory(job=job)
    response = as_client.post(f"/bids/{winner.pk}/accept/")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db(), winner.refresh_from_db(), loser.refresh_from_db()
    assert job.status == JobStatus.ASSIGNED and job.assigned_cleaner_id == winner.cleaner_id
    assert winner.status == BidStatus.ACCEPTED and loser.status == BidStatus.REJECTED
    page = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "You accepted" in page


def test_accepting_twice_is_a_message_not_a_500(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    first, second = JobBidFactory(job=job), JobBidFactory(job=job)
    as_client.post(f"/bids/{first.pk}/accept/")
    response = as_client.post(f"/bids/{second.pk}/accept/", follow=True)
    assert response.status_code == 200
    assert "already has an accepted bid" in response.content.decode() or "cannot be accepted" in response.content.decode()


def test_someone_elses_bid_is_404(as_client):
    bid = JobBidFactory()
    assert as_client.post(f"/bids/{bid.pk}/accept/").status_code == 404
    assert as_client.post(f"/bids/{bid.pk}/reject/").status_code == 404
    bid.refresh_from_db()
    assert bid.status == BidStatus.PENDING


def test_declining_a_bid(as_client, client_user):
    bid = JobBidFactory(job=CleaningJobFactory(client=client_user))
    as_client.post(f"/bids/{bid.pk}/reject/")
    bid.refresh_from_db()
    assert bid.status == BidStatus.REJECTED


def test_actions_are_post_only(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job)
    for url in (f"/bids/{bid.pk}/accept/", f"/jobs/{job.pk}/cancel/", f"/jobs/{job.pk}/pay/", f"/jobs/{job.pk}/bids/"):
        assert as_client.get(url).status_code == 405, url


def test_cancel_and_cancel_again(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    as_client.post(f"/jobs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    response = as_client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert response.status_code == 200
    assert "cannot be cancelled" in response.content.decode()


def test_status_from_start_to_finish_and_pay_once(as_client, client_user, login):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job, amount=Decimal("90.00"))
    as_client.post(f"/bids/{bid.pk}/accept/")
    page = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Pay €" not in page

    # Paying too early is refused with a message.
    early = as_client.post(f"/jobs/{job.pk}/pay/", follow=True)
    assert "only once it is completed" in early.content.decode()

    cleaner = login(bid.cleaner)
    assert "Start job" in cleaner.get(f"/jobs/{job.pk}/").content.decode()
    cleaner.post(f"/jobs/{job.pk}/start/")
    assert "Mark as completed" in cleaner.get(f"/jobs/{job.pk}/").content.decode()
    cleaner.post(f"/jobs/{job.pk}/complete/")
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED

    page = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Pay €90.00" in page
    response = as_client.post(f"/jobs/{job.pk}/pay/", follow=True)
    assert "Paid €90.00" in response.content.decode()
    assert Payment.objects.get(job=job).status == PaymentStatus.SUCCEEDED
    again = as_client.post(f"/jobs/{job.pk}/pay/", follow=True)
    assert "already been paid" in again.content.decode()
    assert Payment.objects.filter(job=job).count() == 1


def test_paid_job_shows_paid(as_client, client_user):
    job = CleaningJobFactory(client=client_user, status=JobStatus.COMPLETED)
    PaymentFactory(job=job, payer=client_user)
    body = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "status-paid" in body and "Pay €" not in body


def test_client_messages_a_bidder(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job)
    response = as_client.post(f"/jobs/{job.pk}/messages/", {"recipient": bid.cleaner_id, "body": "When can you come?"})
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/#messages"
    message = JobMessage.objects.get()
    assert message.recipient == bid.cleaner and message.body == "When can you come?"
    assert "When can you come?" in as_client.get(f"/jobs/{job.pk}/").content.decode()


def test_message_errors_are_field_errors(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    JobBidFactory(job=job)
    stranger = CleanerFactory()
    response = as_client.post(f"/jobs/{job.pk}/messages/", {"recipient": "", "body": ""})
    assert response.status_code == 400
    form = response.context["message_form"]
    assert form.errors["body"] == ["This field is required."]
    assert form.errors["recipient"] == ["This field is required."]
    response = as_client.post(f"/jobs/{job.pk}/messages/", {"recipient": stranger.pk, "body": "hi"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.context["message_form"].errors["recipient"][0]
    assert not JobMessage.objects.exists()


def test_no_bidders_no_messages(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    response = as_client.post(f"/jobs/{job.pk}/messages/", {"body": "hello"}, follow=True)
    assert "once they bid" in response.content.decode()
    assert not JobMessage.objects.exists()


def test_job_text_is_escaped(as_client, client_user):
    job = CleaningJobFactory(client=client_user, title="<img src=x onerror=alert(1)>", description="<script>alert(2)</script>")
    body = as_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "<img src=x" not in body and "<script>alert(2)" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_a_client_cannot_bid_on_their_own_job(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    response = as_client.post(f"/jobs/{job.pk}/bids/", {"amount": "80"}, follow=True)
    assert response.status_code == 200
    assert "Only cleaners can do this." in response.content.decode()
    assert not job.bids.exists()


def test_a_too_long_message_is_a_field_error(as_client, client_user):
    job = CleaningJobFactory(client=client_user)
    bid = JobBidFactory(job=job)
    response = as_client.post(f"/jobs/{job.pk}/messages/", {"recipient": bid.cleaner_id, "body": "x" * 4001})
    assert response.status_code == 400
    assert response.context["message_form"].errors["body"] == ["Ensure this value has at most 4000 characters (it has 4001)."]
