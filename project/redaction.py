"""Passwords inside URLs (DATABASE_URL, REDIS_URL, the broker, GRIP_URL...) are not shown.

`scheme://user:password@host` becomes `scheme://user:********@host`.
"""

import re

MASK = "********"

# user:password@ right after a scheme. The password runs to the last @ before the path,
# as urlsplit reads it, so an unescaped @ inside it does not leave a tail showing.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*:)[^\s/'\"]*@")


def mask_url_passwords(text: str) -> str:
    return URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)

