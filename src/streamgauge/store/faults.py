"""The cause of a failed store operation in one word, for logs and a bounded metric label."""

from __future__ import annotations

from streamgauge.store.causes import (
    CAUSES,
    ERRNOS,
    PG_CLASSES,
    PG_STATES,
    SQLITE_CODES,
    SQLITE_WORDS,
)

# Every reason a store failure can be given, so the label's values are bounded and documented.
STORE_REASONS = tuple(c.label for c in CAUSES)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError keeps the driver's error
        if isinstance(orig, BaseException) and orig not in seen:
            seen.append(orig)
        current = current.__cause__ or current.__context__
    return seen


def store_reason(exc: BaseException) -> str | None:
    """``store_full``, ``store_locked``... when ``exc`` comes from the store, else None."""
    from sqlalchemy.exc import SQLAlchemyError

    from streamgauge.store.types import StoreError

    chain = _chain(exc)
    for cause in chain:
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and state:
            return PG_STATES.get(state) or PG_CLASSES.get(state[:2]) or "store"
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in SQLITE_CODES:
            return SQLITE_CODES[code & 0xFF]
        if isinstance(cause, OSError) and cause.errno in ERRNOS:
            return ERRNOS[cause.errno]
        text = str(cause).lower()
        if type(cause).__module__ == "sqlite3":
            for words, reason in SQLITE_WORDS:
                if words in text:
                    return reason
    if any(isinstance(c, SQLAlchemyError | StoreError) for c in chain):
        for cause in chain:
            text = str(cause).lower()
            for words, reason in SQLITE_WORDS:
                if words in text:
                    return reason
        return "store"
    return None
