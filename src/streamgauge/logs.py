"""Logging set-up, with every configured secret masked wherever it might appear."""

from __future__ import annotations

import base64
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from streamgauge.config import Settings, StoreConfig

MASK = "***"


def secrets_of(value: Any) -> Iterable[str]:
    """Every secret held anywhere in a settings tree, in each form it may travel in.

    A token also travels base64-encoded with its user in a Basic ``Authorization`` header (Jira
    Cloud's email and API token), and a database password inside the store URL.
    """
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if secret:
            yield secret
    elif isinstance(value, BaseModel):
        users = [
            str(getattr(value, name))
            for name in ("email", "username", "user")
            if isinstance(getattr(value, name, None), str)
        ]
        for name in type(value).model_fields:
            field = getattr(value, name)
            for secret in secrets_of(field):
                yield secret
                for user in users:
                    yield base64.b64encode(f"{user}:{secret}".encode()).decode()
        if isinstance(value, StoreConfig) and value.url:
            try:
                password = make_url(value.url).password
            except ArgumentError:
                password = None
            if password:
                yield str(password)
    elif isinstance(value, dict):
        for item in value.values():
            yield from secrets_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from secrets_of(item)


# Whatever follows an authorization scheme is a credential, configured or not.
_AUTH = re.compile(r"\b(Basic|Bearer|token)\s+[A-Za-z0-9+/=._~-]{8,}")


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret and every credential after an auth scheme masked."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _AUTH.sub(lambda m: f"{m.group(1)} {MASK}", text)


class RedactSecrets(logging.Filter):
    """Masks secret values in a record's message and arguments, tracebacks included."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Client libraries log request URLs and headers at DEBUG; keep them at WARNING.
    for noisy in ("urllib3", "github", "gitlab", "jira", "apscheduler", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # waitress warns "Task queue depth is N" whenever a request waits for a worker thread, from
    # its event loop thread: under a burst of pushed events that is a line per request, and the
    # writing slows the loop that accepts them
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
