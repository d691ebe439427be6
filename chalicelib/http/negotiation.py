"""Picking the response media type from the ``Accept`` header (JSON by default)."""

from __future__ import annotations

from chalicelib.http.errors import NotAcceptable

JSON = "application/json"
CSV = "text/csv"


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def choose(accept: str | None, offered: tuple[str, ...] = (JSON, CSV)) -> str:
    """The offered type the client prefers most; the first offered one when it has no preference."""
    if not accept or not accept.strip():
        return offered[0]
    candidates: list[tuple[float, int, int, str]] = []
    for media, quality in _ranges(accept):
        if quality <= 0:
            continue
        for rank, option in enumerate(offered):
            kind = option.split("/")[0]
            specificity = 2 if media == option else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            if specificity >= 0:
                candidates.append((quality, specificity, -rank, option))
    best = max(candidates) if candidates else None
    if best is None:
        raise NotAcceptable(f"this route answers {' or '.join(offered)}")
    return best[3]
