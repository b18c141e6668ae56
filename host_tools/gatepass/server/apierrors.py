"""Error answers shared by the device API and the staff API: JSON {"detail", "code"}.

`code` is the stable machine-readable part (docs/uplink.md lists the device API's);
`detail` is for people.
"""
from __future__ import annotations

from django.http import JsonResponse
from ninja import Field, NinjaAPI, Schema
from ninja.errors import HttpError


class ErrorOut(Schema):
    """The error answer of both APIs (the one schema: error() builds its body)."""

    detail: str = Field(description="human readable")
    code: str = Field(description="stable machine code (docs/uplink.md lists the device API's)")
    time: int | None = Field(None, description="server unix time (device API, stale_time only)")


def error(status: int, code: str, detail: str, **extra) -> JsonResponse:
    body = {"detail": detail, "code": code}
    body.update(extra)
    return JsonResponse(body, status=status)


class ApiError(HttpError):
    """An HttpError that carries its stable `code`."""

    def __init__(self, status: int, code: str, msg: str):
        super().__init__(status, msg)
        self.code = code


def install(api: NinjaAPI) -> None:
    """Answer every HttpError raised in `api`'s views as an error(); plain HttpErrors
    (ninja's own) get code "error"."""

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        return error(exc.status_code, getattr(exc, "code", "error"), str(exc))
