"""HTTP edge shared by the services: JSON errors that name the field, bearer auth, health and metrics."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth import Principal, TokenRegistry
from .telemetry import metrics_exposition

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when ready, else the reason


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    error: str
    message: str
    fields: list[FieldError] = []


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.fields, self.headers = list(fields), headers


def field_path(loc: Sequence[Any]) -> str:
    """('body', 'alerts', 0, 'labels') -> 'alerts[0].labels'."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def field_errors(errors: Sequence[dict[str, Any]], prefix: Sequence[Any] = ()) -> list[FieldError]:
    return [FieldError(field=field_path([*prefix, *e["loc"]]), reason=e["msg"]) for e in errors]


def error_response(exc: ApiError) -> JSONResponse:
    body = ErrorBody(error=exc.error, message=exc.message, fields=exc.fields)
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=exc.headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Malformed JSON",
        401: "Missing or unknown bearer token",
        403: "Token lacks the required scope",
        413: "Body over the size limit",
        415: "Content type is not application/json",
        422: "Body does not match the schema; `fields` names each bad field",
        503: "Not ready (database or broker unreachable); retry after Retry-After seconds",
    }.items()
}


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors that name the field for every failure, and the text guard on paths and queries."""
    app.add_middleware(TextGuard)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(ApiError(400, "malformed_json", "request body is not valid JSON"))
        return error_response(ApiError(422, "invalid", "request does not match the schema", field_errors(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(ApiError(exc.status_code, "http_error", str(exc.detail), headers=exc.headers))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(ApiError(500, "internal", "internal error"))


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as parsed JSON, enforcing content type and size before parsing."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type must be application/json, got {ctype or 'none'!r}",
            [FieldError(field="content-type", reason="must be application/json")],
        )
    body = await read_limited(request, max_bytes)
    data = parse_json(body)
    refuse_unstorable_json(body, data)
    return data


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 past `max_bytes`: by its Content-Length up front, else as it streams."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """The body parsed as JSON, or 400 naming it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"request body is not valid JSON: {exc}",
            [FieldError(field="body", reason="not valid JSON")],
        ) from None


def refuse_unstorable_json(raw: bytes, data: Any) -> None:
    """refuse_unstorable for `data` parsed by orjson from `raw`, at the cost of one byte search when `raw` has
    no NUL: JSON can only spell one as \\u0000, and orjson already refuses unpaired surrogates."""
    if b"\\u0000" in raw:
        refuse_unstorable(data)


# --- text PostgreSQL cannot store ------------------------------------------------------------------------


def unstorable(text: str) -> str | None:
    """Why PostgreSQL text cannot hold `text` (a NUL, or half a UTF-16 surrogate pair), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode text"
    return None


def storable(text: str) -> str:
    """A pydantic AfterValidator for text fields that end up in PostgreSQL."""
    problem = unstorable(text)
    if problem:
        raise ValueError(problem)
    return text


def refuse_unstorable(data: Any) -> None:
    """422 naming the first string (key or value) of parsed JSON that PostgreSQL text cannot hold. Iterative:
    a body may nest deeper than Python's recursion limit."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str) and (problem := unstorable(value)):
            raise _unstorable_at(loc, problem)
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := unstorable(key):
                    raise _unstorable_at((*loc, key), f"key {problem}")
                stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((item, (*loc, i)) for i, item in enumerate(value))


def _unstorable_at(loc: tuple[Any, ...], problem: str) -> ApiError:
    return ApiError(422, "invalid", "request does not match the schema", field_errors([{"loc": loc, "msg": problem}]))


class TextGuard:
    """ASGI middleware: a request whose path or query carries a NUL character gets 422 before any handler
    binds it to a SQL parameter (PostgreSQL text cannot hold one; the driver would fail with a 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            field = _nul_in(scope)
            if field is not None:
                reason = FieldError(field=field, reason="contains a NUL character (%00), which cannot be stored")
                error = ApiError(422, "invalid", "request does not match the schema", [reason])
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_in(scope: dict) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "query"
    return None


# --- request size ------------------------------------------------------------------------------------------


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is over the {max_bytes} byte limit")
        self.max_bytes = max_bytes


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before a handler parses it, by its
    Content-Length up front, else by counting the bytes as they stream in (chunked uploads)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(_too_large(self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    """Every request body of `app` is limited to `max_bytes` (routes that read their own bodies may be stricter)."""
    app.add_middleware(BodyLimit, max_bytes=max_bytes)

    @app.exception_handler(BodyTooLarge)
    async def _too_large_body(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(_too_large(exc.max_bytes))


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "too_large",
        f"request body is over the {max_bytes} byte limit",
        [FieldError(field="body", reason=f"larger than {max_bytes} bytes")],
    )


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", "request does not match the schema", field_errors(exc.errors())) from None


def json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for an endpoint that reads its body itself (to enforce size and type before parsing)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    }


def bearer_or_key(tokens: TokenRegistry) -> Callable[[Request, str, str | None], Principal]:
    """Returns `authorize(request, scope, key)`: the bearer token, or else `key` taken from the body (PagerDuty
    senders carry their integration key as routing_key, with no header), must be a token with `scope`."""

    def authorize(request: Request, scope: str, key: str | None = None) -> Principal:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        presented = secret.strip() if scheme.lower() == "bearer" and secret.strip() else key
        principal = tokens.authenticate(presented) if presented else None
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="triage"'},
            )
        if not principal.allows(scope):
            raise ApiError(403, "forbidden", f"this token does not carry the {scope!r} scope")
        request.state.principal = principal
        return principal

    return authorize


def bearer_auth(tokens: TokenRegistry) -> Callable[[str], Any]:
    """Returns `require(scope)`, a FastAPI dependency factory yielding the authenticated Principal."""
    authorize = bearer_or_key(tokens)

    def require(scope: str) -> Any:
        async def dependency(request: Request) -> Principal:
            return authorize(request, scope, None)

        return Depends(dependency)

    return require


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description='"ok", or why that part is not ready')


def install_health(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: broker and database reachable",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready; `checks` names the reason"}},
    )
    async def readyz() -> JSONResponse:
        results = {name: await _run_check(check) for name, check in checks.items()}
        ready = all(r is None for r in results.values())
        body = {
            "status": "ready" if ready else "not_ready",
            "checks": {n: ("ok" if r is None else r) for n, r in results.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus exposition",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        data, ctype = metrics_exposition()
        return Response(data, media_type=ctype)


async def _run_check(check: ReadinessCheck) -> str | None:
    try:
        return await check()
    except Exception as exc:  # a readiness probe reports, it never raises
        return f"{type(exc).__name__}: {exc}"


def openapi_bearer(app: FastAPI, body_models: Sequence[type[BaseModel]] = ()) -> None:
    """Declare the bearer scheme in OpenAPI (so /docs offers Authorize), and the schemas of bodies that
    handlers read themselves (to enforce size and content type before parsing)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        for path, ops in schema.get("paths", {}).items():
            if path not in ("/healthz", "/readyz", "/metrics"):
                for op in ops.values():
                    op.setdefault("security", [{"bearer": []}])
        schemas = components.setdefault("schemas", {})
        for model in body_models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(model_schema.pop("$defs", {}))
            schemas[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
