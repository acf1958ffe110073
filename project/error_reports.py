"""Error pages and reports that never show a password inside a URL.

Django's debug page (DEBUG on) and its error e-mails list the settings, the request
and each frame's local variables. Its own filter hides settings named like KEY or
PASSWORD, but not DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, a cache LOCATION or
GRIP_URL: these keep their URL with the password masked (project/redaction.py).
"""

from django.template.defaultfilters import pprint
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from project.redaction import mask_url_passwords


class MaskedRepr:
    """Stands for a local variable whose printed form held a URL password."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class UrlPasswordSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key, value):
        # Django recurses through dicts, lists and tuples with this same method.
        cleansed = super().cleanse_setting(key, value)
        return mask_url_passwords(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not hasattr(parameters, "lists"):
            return parameters
        masked = parameters.copy()
        for name, values in parameters.lists():
            masked.setlist(name, [mask_url_passwords(v) if isinstance(v, str) else v for v in values])
        return masked

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self._masked(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]

    @staticmethod
    def _masked(value):
        if isinstance(value, str):
            return mask_url_passwords(value)
        shown = pprint(value)  # what the page would print
        masked = mask_url_passwords(shown)
        return value if masked == shown else MaskedRepr(masked)


class UrlPasswordSafeExceptionReporter(ExceptionReporter):
    """Also masks what the page shows without asking the filter: the exception's own
    message (a driver may put its connection URL there), the query string and the URL."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        for key in ("exception_value", "exception_notes", "request_insecure_uri"):
            if isinstance(data.get(key), str):
                data[key] = mask_url_passwords(data[key])
        if "request_GET_items" in data:
            data["request_GET_items"] = [(name, mask_url_passwords(value)) for name, value in data["request_GET_items"]]
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:  # "During handling of the above exception (...)"
                frame["exc_cause"] = mask_url_passwords(str(frame["exc_cause"]))
        return data
