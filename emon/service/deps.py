"""Who is asking and what they may do: FastAPI dependencies shared by the routers."""

# no postponed annotations here: FastAPI reads the Annotated dependencies at runtime
from typing import Annotated, Any

from fastapi import Body, Depends, Header, HTTPException, Query, Request

from emon.service.auth import Principal, TokenBook
from emon.timeutil import TimestampError, parse_ts

#: the one endpoint that takes ?token= (server-sent events from a browser)
STREAM_PATH = "/api/v1/alerts/stream"
OrderBody = Annotated[dict[str, Any], Body(description="an order as in the contract")]


def principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    """Who is asking: the ``Authorization`` header; ``?token=`` only on the
    live stream (EventSource cannot set headers), never for a write or a
    read that could land in a log or a browser history by its URL."""
    if token is not None and request.url.path != STREAM_PATH:
        raise HTTPException(401, "send the token in the Authorization header",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    given = token or (authorization or "").removeprefix("Bearer ").strip()
    book: TokenBook = request.app.state.tokens
    who = book.who(given) if given else None
    if who is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return who


def allowed(permission: str) -> Any:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(permission):
            raise HTTPException(403, f"the {who.role} role may not do this ({permission})")
        return who

    return Depends(check)


Validate = Annotated[Principal, allowed("orders:validate")]
WriteOrders = Annotated[Principal, allowed("orders:write")]
ReadOrders = Annotated[Principal, allowed("orders:read")]
ReadAlerts = Annotated[Principal, allowed("alerts:read")]
ActOnAlerts = Annotated[Principal, allowed("alerts:act")]
ConfirmAlerts = Annotated[Principal, allowed("alerts:confirm")]
ReadDevices = Annotated[Principal, allowed("devices:read")]
Review = Annotated[Principal, allowed("review:read")]
ReadEvidence = Annotated[Principal, allowed("evidence:read")]
WriteHolds = Annotated[Principal, allowed("holds:write")]
GrantExceptions = Annotated[Principal, allowed("exceptions:grant")]
CommandDevices = Annotated[Principal, allowed("devices:command")]
ExportPersons = Annotated[Principal, allowed("persons:export")]
Since = Annotated[str, Query(alias="from", description="start of the period (RFC 3339)")]
Until = Annotated[str | None, Query(alias="to", description="end (RFC 3339; default now)")]
Format = Annotated[str, Query(pattern="^(html|pdf|geojson|csv)$")]
#: the figures of a period by day or by week
Bucket = Annotated[str, Query(pattern="^(day|week)$", description="figures per day or per week")]
#: the reader's language of a report
Lang = Annotated[str, Query(pattern="^(en|nl)$", description="the report's language")]
Anyone = Annotated[Principal, Depends(principal)]
#: how an operator classifies a resolved alert
CLASSIFICATIONS = ("true_violation", "technical", "permitted_exception")
#: how a call the centre made about an alert ended
CALL_OUTCOMES = ("reached", "no_answer", "voicemail", "busy", "wrong_number")
NoteBody = Annotated[dict[str, Any] | None, Body()]


def period(start: str, end: str | None, now: int) -> tuple[int, int]:
    """A ``from``/``to`` pair of RFC 3339 times as milliseconds (``to``: now)."""
    try:
        return parse_ts(start), parse_ts(end) if end else now
    except TimestampError as exc:
        raise HTTPException(422, str(exc)) from exc
