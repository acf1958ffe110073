"""Which subscriptions a login session stored, so logging out stops that browser receiving the user's pushes."""

SESSION_KEY = "webpush_endpoints"
MAX_REMEMBERED = 10


def session_endpoint_remember(request, endpoint: str) -> None:
    session = getattr(request, "session", None)
    if session is None:  # token authentication: no login session to end
        return
    endpoints = [e for e in session.get(SESSION_KEY, []) if e != endpoint]
    session[SESSION_KEY] = (endpoints + [endpoint])[-MAX_REMEMBERED:]


def session_endpoint_drop(request, endpoint: str) -> None:
    session = getattr(request, "session", None)
    if session is not None and endpoint in session.get(SESSION_KEY, []):
        session[SESSION_KEY] = [e for e in session[SESSION_KEY] if e != endpoint]


def session_endpoints(request) -> list[str]:
    session = getattr(request, "session", None)
    return list(session.get(SESSION_KEY, [])) if session is not None else []
