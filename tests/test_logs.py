"""Secrets are masked in every form they travel in: as written, base64 with a user, in a URL."""

from __future__ import annotations

import base64
import logging
from typing import Literal

from pydantic import SecretStr

from streamgauge.config import Settings, SourceConfig, StoreConfig
from streamgauge.logs import MASK, RedactSecrets, redact, secrets_of

TOKEN = "tok-3f9a1c77e2"


class CloudSource(SourceConfig):
    type: Literal["cloud"] = "cloud"
    email: str = "ann@example.com"
    api_token: SecretStr = SecretStr(TOKEN)


def test_the_basic_auth_form_and_the_store_password_are_secrets() -> None:
    settings = Settings(
        store=StoreConfig(url="postgresql+psycopg://sg:pg-pass-81x@db:5432/sg"),
        sources=[CloudSource(name="tracker")],
    )
    found = set(secrets_of(settings))
    basic = base64.b64encode(f"ann@example.com:{TOKEN}".encode()).decode()
    assert found == {TOKEN, basic, "pg-pass-81x"}


def test_redact_masks_secrets_and_whatever_follows_an_auth_scheme() -> None:
    text = f"GET / with {TOKEN}; Authorization: Basic dXNlcjpwYXNzd29yZA==; Bearer abc.def.ghi-123"
    assert redact(text, [TOKEN]) == (
        f"GET / with {MASK}; Authorization: Basic {MASK}; Bearer {MASK}"
    )
    # Short words after "token" are prose, not credentials.
    assert redact("the token was refused", []) == "the token was refused"


def test_the_log_filter_masks_arguments_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction")
    handler = Keep()
    handler.addFilter(RedactSecrets([TOKEN]))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling with %s", TOKEN)
        try:
            raise RuntimeError(f"refused: {TOKEN}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records[0] == f"calling with {MASK}"
    assert records[1].startswith("failed\nTraceback")
    assert f"RuntimeError: refused: {MASK}" in records[1]
    assert TOKEN not in "".join(records)
