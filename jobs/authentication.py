"""API authentication: DRF's token check, reading the user's cleaner profile in the same query."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from .compiled import CompiledQuery

# Compiled once per process (jobs/compiled.py): building it was a millisecond of every API request.
_token_with_role = CompiledQuery(lambda values: Token.objects.select_related("user__cleaner_profile").filter(key=values["key"]))


def token_query_prepare() -> None:
    """Compile and prepare the token query before the first request needs it (project/warmup.py)."""
    _token_with_role.prepare({"key": ""})


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the user's role (cleaner profile or none) in one query.

    Nearly every API write asks whether the user is a cleaner (jobs/selectors.py::cleaner_profile_of);
    reading the profile with the token saves that query on each request.
    """

    def authenticate_credentials(self, key):
        token = _token_with_role.first({"key": str(key)})
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)
