"""Passwords inside URLs (DATABASE_URL, REDIS_URL, the broker, GRIP_URL...) never reach a log.

`scheme://user:password@host` becomes `scheme://user:********@host` in every record the
root handlers write: its message, its arguments and its exception text. Error pages
get the same treatment from project/error_reports.py.
"""

import logging
import re

MASK = "********"

# user:password@ right after a scheme. The password runs to the last @ before the path,
# as urlsplit reads it, so an unescaped @ inside it does not leave a tail showing.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*:)[^\s/'\"]*@")


def mask_url_passwords(text: str) -> str:
    return URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)


class MaskUrlPasswords(logging.Filter):
    """Rewrites the record in place, so every handler after this one sees it masked too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it when formatting
            return True
        record.msg, record.args = mask_url_passwords(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_url_passwords(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_url_passwords(record.stack_info)
        return True
