"""The job form's map: it shows where the address was found, and the client may move the pin nearby."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import CleaningJob
from tests.factories import ClientFactory

from .helpers import fill_job_form

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DAMRAK = (52.3757, 4.8962)


def test_the_map_shows_the_address_and_the_pin_can_be_moved(live_server_url, people):
    anna = people(live_server_url, ClientFactory(first_name="Anna"))
    page = anna.page
    page.goto("/jobs/new/")
    expect(page.locator("[data-place-canvas]")).to_be_hidden()

    # An address that cannot be found: said under the field at once, no map.
    page.fill("#id_address", "Nowhere Lane 9")
    page.fill("#id_city", "Amsterdam")
    page.locator("#id_city").blur()
    expect(page.locator("[data-place-status]")).to_have_text(re.compile(r"^We could not find that address in Amsterdam"))
    expect(page.locator("[data-place-canvas]")).to_be_hidden()

    # A real one: the pin stands on it; the hidden fields stay empty until the pin is moved.
    fill_job_form(page, title="Window cleaning", service="windows", address="Damrak 1")
    page.locator("#id_budget").blur()
    marker = page.locator("[data-place-canvas] .leaflet-marker-icon")
    expect(marker).to_be_visible()
    expect(page.locator("[data-place-status]")).to_contain_text("Found: Damrak, Centrum, Amsterdam.")
    assert page.input_value("#id_latitude") == "" and page.input_value("#id_longitude") == ""

    # Drag the pin a little to the east.
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=8)
    page.mouse.up()
    expect(page.locator("[data-place-status]")).to_have_text("Pin moved: the job will be placed where the pin is.")
    pinned = (float(page.input_value("#id_latitude")), float(page.input_value("#id_longitude")))
    assert pinned[1] > DAMRAK[1] and abs(pinned[0] - DAMRAK[0]) < 0.0005

    page.click("button:has-text('Post job')")
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = CleaningJob.objects.get()
    assert (job.address, job.latitude, job.longitude) == ("Damrak 1", *pinned)
    assert anna.errors == []
