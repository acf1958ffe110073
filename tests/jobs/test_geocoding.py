"""Addresses to coordinates: the gazetteer's matching, the Nominatim adapter (against a local server) and place_resolve."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from jobs.geocoding import CachedGeocoder, GazetteerGeocoder, NominatimGeocoder, get_geocoder
from jobs.places import place_resolve

DAMRAK = (52.3757, 4.8962)


@pytest.fixture(scope="module")
def gazetteer():
    return GazetteerGeocoder()


def point(place):
    return (place.latitude, place.longitude)


@pytest.mark.parametrize(
    "address",
    [
        "Damrak",
        "Damrak 1",
        "damrak 1",
        "  DAMRAK    1  ",
        "Damrak 1-3",
        "Damrak 12a",
        "Damrak 12-II",
        "Damrak 12 hs",
        "Damrak 1, 1012 LG Amsterdam",
        "Damrak 1, 1012LG",
        "1012 LG Damrak 1",
        "Damrak 1, Amsterdam, Nederland",
        "Dámrák 1",
    ],
)
def test_the_gazetteer_tolerates_case_accents_spaces_house_numbers_and_postcodes(gazetteer, address):
    place = gazetteer.geocode(address=address, city="Amsterdam")
    assert place is not None and point(place) == DAMRAK
    assert place.label == "Damrak, Centrum, Amsterdam"


@pytest.mark.parametrize(
    "address, label",
    [
        ("P.C. Hooftstraat 138", "P.C. Hooftstraat, Oud-Zuid, Amsterdam"),
        ("PC Hooftstraat 138", "P.C. Hooftstraat, Oud-Zuid, Amsterdam"),
        ("prinsengracht 263-267, 1016 GV", "Prinsengracht, Centrum, Amsterdam"),
        ("De Pijp", "De Pijp, Amsterdam"),
        ("oud west", "Oud-West, Amsterdam"),
        ("IJBURG", "IJburg, Amsterdam"),
        ("Churchilllaan 11", "Churchill-laan, Rivierenbuurt, Amsterdam"),
    ],
)
def test_the_gazetteer_knows_streets_and_districts_by_their_usual_spellings(gazetteer, address, label):
    assert gazetteer.geocode(address=address, city="amsterdam").label == label


@pytest.mark.parametrize("city", ["Amsterdam", "AMSTERDAM ", "A'dam"])
def test_the_gazetteer_takes_its_city_however_it_is_written(gazetteer, city):
    assert point(gazetteer.geocode(address="Damrak 1", city=city)) == DAMRAK


@pytest.mark.parametrize(
    "address, city",
    [("Nonexistentstraat 4", "Amsterdam"), ("", "Amsterdam"), ("12", "Amsterdam"), ("Damrak 1", "Rotterdam")],
)
def test_the_gazetteer_finds_nothing_for_unknown_streets_and_other_cities(gazetteer, address, city):
    assert gazetteer.geocode(address=address, city=city) is None


def test_every_gazetteer_place_is_within_15_km_of_the_demo_centre(gazetteer):
    from demo.management.commands.seed_demo import CENTRE_LAT, CENTRE_LON
    from tests.demo.test_seed_demo import km_from_centre

    assert len(set(gazetteer._places.values())) == 94
    assert all(km_from_centre(p.latitude, p.longitude) < 15 for p in gazetteer._places.values())
    assert (CENTRE_LAT, CENTRE_LON) == (52.3676, 4.9041)


def test_the_gazetteer_names_the_known_place_nearest_a_point(gazetteer):
    assert gazetteer.nearest(latitude=52.3676, longitude=4.9041, within_km=1.5).label == "Jodenbreestraat, Centrum, Amsterdam"
    assert gazetteer.nearest(latitude=52.3757, longitude=4.8962, within_km=0.01).label == "Damrak, Centrum, Amsterdam"
    assert gazetteer.nearest(latitude=48.8566, longitude=2.3522, within_km=1.5) is None


# --- place_resolve: the rule the form, the API and the profile share -----------------


def test_place_resolve_geocodes_the_address():
    assert point(place_resolve(address="Damrak 1", city="Amsterdam")) == DAMRAK


def test_place_resolve_keeps_coordinates_given():
    assert point(place_resolve(address="Damrak 1", city="Amsterdam", latitude=52.0, longitude=4.0)) == (52.0, 4.0)


def test_place_resolve_refuses_an_unknown_address_on_the_address_field():
    with pytest.raises(ValidationError) as excinfo:
        place_resolve(address="Nowhere Lane 9", city="Amsterdam")
    assert excinfo.value.message_dict == {
        "address": [
            "We could not find that address in Amsterdam: check the street or district name "
            "(a house number and postcode after it are fine)."
        ]
    }


def test_place_resolve_refuses_half_a_coordinate():
    with pytest.raises(ValidationError) as excinfo:
        place_resolve(address="Damrak 1", city="Amsterdam", latitude=52.0)
    assert excinfo.value.message_dict == {
        "longitude": ["Give both latitude and longitude, or neither to have the address looked up."]
    }


def test_the_default_geocoder_is_the_gazetteer(settings):
    assert settings.GEOCODER == "gazetteer"
    assert isinstance(get_geocoder(), GazetteerGeocoder)


# --- Nominatim through geopy, against a server on 127.0.0.1 (never the internet) ---------


class FakeNominatim(BaseHTTPRequestHandler):
    requests: list[dict] = []
    answer: list = []

    def do_GET(self):
        url = urlsplit(self.path)
        type(self).requests.append({"path": url.path, "query": parse_qs(url.query), "user_agent": self.headers["User-Agent"]})
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nominatim_server(settings):
    FakeNominatim.requests = []
    FakeNominatim.answer = [
        {"lat": "52.3752", "lon": "4.8840", "display_name": "Prinsengracht 263, Amsterdam, Nederland", "place_id": 1}
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.GEOCODER = "nominatim"
    settings.GEOCODER_NOMINATIM_URL = f"http://127.0.0.1:{server.server_port}"
    settings.GEOCODER_USER_AGENT = "spotless-tests/1.0"
    settings.GEOCODER_COUNTRY_CODES = "nl"
    cache.clear()
    yield FakeNominatim
    server.shutdown()
    server.server_close()
    cache.clear()


def test_nominatim_is_asked_once_per_address_with_the_apps_user_agent(nominatim_server):
    first = place_resolve(address="Prinsengracht 263", city="Amsterdam")
    again = place_resolve(address="  prinsengracht 263 ", city="AMSTERDAM")  # the same query, normalized: cached

    assert point(first) == point(again) == (52.3752, 4.884)
    assert len(nominatim_server.requests) == 1
    request = nominatim_server.requests[0]
    assert request["path"] == "/search"
    assert request["user_agent"] == "spotless-tests/1.0"
    assert request["query"]["q"] == ["Prinsengracht 263, Amsterdam"]
    assert request["query"]["countrycodes"] == ["nl"]
    assert request["query"]["format"] == ["json"]


def test_nominatim_finding_nothing_is_a_field_error_and_is_cached(nominatim_server):
    nominatim_server.answer = []
    for _ in range(2):
        with pytest.raises(ValidationError) as excinfo:
            place_resolve(address="Nowhere Lane 9", city="Amsterdam")
        assert list(excinfo.value.message_dict) == ["address"]
    assert len(nominatim_server.requests) == 1


def test_nominatim_down_is_a_field_error_not_a_crash(settings):
    settings.GEOCODER = "nominatim"
    settings.GEOCODER_NOMINATIM_URL = "http://127.0.0.1:9"  # the discard port: nothing listens
    cache.clear()
    with pytest.raises(ValidationError) as excinfo:
        place_resolve(address="Damrak 1", city="Amsterdam")
    assert excinfo.value.message_dict == {
        "address": ["We could not look the address up just now. Please try again in a minute."]
    }


def test_nominatim_is_rate_limited_to_one_request_per_second_and_cached(nominatim_server):
    geocoder = get_geocoder()
    assert isinstance(geocoder, CachedGeocoder)
    assert geocoder.timeout == 30 * 24 * 3600
    assert isinstance(geocoder.inner, NominatimGeocoder)
    assert geocoder.inner._geocode.min_delay_seconds == 1.0
    assert get_geocoder() is geocoder  # one limiter per process, not one per request
