"""Checking that a pushed request comes from a sender that holds the source's secret.

Every check runs on the raw body bytes, before anything is parsed, and compares in constant
time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from streamgauge.connectors.webhook.config import WebhookConfig

STANDARD_PREFIX = "whsec_"


class AuthError(Exception):
    """The request is not signed by the secret; ``reason`` is a short label for the counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: ``whsec_<base64>`` decodes to its bytes;
    any other string is used as its UTF-8 bytes."""
    if secret.startswith(STANDARD_PREFIX):
        try:
            return base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (Standard Webhooks spec)."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def github_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``, as GitHub's X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(config: WebhookConfig, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Return when ``headers`` prove the sender holds the secret; raise :class:`AuthError`.

    ``headers`` are keyed by lower-case name.
    """
    secret = config.secret.get_secret_value()
    if config.auth == "bearer":
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing_signature", "an Authorization: Bearer header is required")
        if not hmac.compare_digest(token.strip().encode(), secret.encode()):
            raise AuthError("bad_signature", "the bearer token is not this source's")
        return
    if config.auth == "github":
        given = headers.get("x-hub-signature-256", "")
        if not given:
            raise AuthError("missing_signature", "an X-Hub-Signature-256 header is required")
        if not hmac.compare_digest(given.strip().encode(), github_signature(secret, body).encode()):
            raise AuthError("bad_signature", "X-Hub-Signature-256 does not match the body")
        return
    _verify_standard(config, headers, body, now, secret)


def _verify_standard(
    config: WebhookConfig, headers: Mapping[str, str], body: bytes, now: datetime, secret: str
) -> None:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp and signatures):
        raise AuthError(
            "missing_signature",
            "webhook-id, webhook-timestamp and webhook-signature headers are required",
        )
    try:
        sent = int(timestamp)
    except ValueError:
        raise AuthError("bad_signature", "webhook-timestamp is not whole Unix seconds") from None
    # Replayed or delayed deliveries are refused outside the tolerance, in both directions.
    if abs(now.timestamp() - sent) > config.tolerance / timedelta(seconds=1):
        raise AuthError("stale_timestamp", "webhook-timestamp is outside the tolerance")
    expected = standard_signature(standard_key(secret), msg_id, timestamp, body).encode()
    # Several signatures may be sent, space-separated, while a secret is being rotated.
    matched = False
    for candidate in signatures.split():
        matched |= hmac.compare_digest(candidate.encode(), expected)
    if not matched:
        raise AuthError("bad_signature", "webhook-signature does not match the body")
