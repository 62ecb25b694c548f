"""The monitor on a hostile network: which Host it answers, who may read it, what a page may do.

One pure ASGI middleware (:class:`SecurityMiddleware`), three rules:

- **Host check** (DNS rebinding): a web page the operator visits can point its own name at
  127.0.0.1 and read the API same-origin. The browser still sends that name in ``Host``, so
  only the names the service is bound to are answered (loopback names and IP literals by
  default, plus ``--host`` and ``--allowed-host``); anything else is a 403, as Jupyter's
  ``check_host`` does (jupyter_server ``base/handlers.py``).
- **Access token** when bound beyond loopback: ``Authorization: Bearer <token>`` (scripts,
  Prometheus) or a cookie set from the one-time ``/?token=`` URL (HttpOnly, SameSite=Strict,
  then a 303 that drops the token from the address bar); compared in constant time; 401 else.
- **Headers on every response**: a Content-Security-Policy (the page's for HTML, ``default-src
  'none'`` for the rest), nosniff, no framing, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response

from .errors import ConfigError

__all__ = [
    "API_POLICY",
    "COOKIE",
    "HEADERS",
    "LOOPBACK_NAMES",
    "PAGE_POLICY",
    "WILDCARDS",
    "ASGIApp",
    "Access",
    "Message",
    "Receive",
    "Scope",
    "SecurityMiddleware",
    "Send",
    "inline_script_policy",
    "is_loopback",
    "parse_hosts",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "sensorlake_monitor_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_LOCKED = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self'; {_LOCKED}"
)
API_POLICY = f"default-src 'none'; {_LOCKED}"

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::(?P<port>\d{1,5}))?$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,}$")
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _host_part(text: str) -> str | None:
    """A Host value's name or address, lowercased, without port, brackets or final dot."""
    text = text.strip().lower()
    if text.count(":") >= 2 and not text.startswith("["):  # a bare IPv6 address: --host ::1
        addr = _ip(text)
        return str(addr) if addr is not None else None
    match = _HOST.match(text)
    if match is None:
        return None
    if match["v6"]:
        try:
            return str(ipaddress.IPv6Address(match["v6"]))
        except ValueError:
            return None
    return match["name"].rstrip(".") or None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def parse_hosts(values: Iterable[str], *, source: str) -> frozenset[str]:
    """Allowed host names from options or the environment (``name``, ``name:port``, ``[::1]``)."""
    hosts = set()
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            host = _host_part(item)
            if host is None:
                raise ConfigError(
                    f"{source}: {item.strip()!r} is not a host name or address "
                    "(e.g. monitor.example.lan or 10.0.0.5)"
                )
            hosts.add(host)
    return frozenset(hosts)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` serves this machine only (a name: all its addresses)."""
    name = _host_part(host) if host not in WILDCARDS else None
    if name is None:
        return False
    if name == "localhost":
        return True
    addr = _ip(name)
    if addr is not None:
        return addr.is_loopback
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


@dataclass(frozen=True)
class Access:
    """Who the service answers: the Host names it is reached by, and the token, if any."""

    hosts: frozenset[str] = LOOPBACK_NAMES
    any_address: bool = False  # bound to a wildcard address: any IP literal is this machine
    token: str | None = field(default=None, repr=False)
    generated: bool = False  # the token was made at start (print the one-time URL)

    @classmethod
    def for_binding(
        cls, host: str, *, allowed: Iterable[str] = (), token: str | None = None
    ) -> Access:
        """Loopback names, ``host`` itself and ``allowed``; a token beyond loopback (one is
        generated when none is configured). A configured token is required on loopback too."""
        if token is not None and not _TOKEN.match(token):
            raise ConfigError(
                "SENSORLAKE_MONITOR_TOKEN must be at least 16 letters, digits or ._~+/=- "
                "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        wildcard = host.strip() in WILDCARDS
        hosts = set(LOOPBACK_NAMES) | set(parse_hosts(allowed, source="--allowed-host"))
        if not wildcard:
            hosts |= parse_hosts([host], source="--host")
        else:
            hosts.add(socket.gethostname().lower())
        generated = False
        if token is None and not is_loopback(host):
            token, generated = secrets.token_urlsafe(32), True
        return cls(frozenset(hosts), wildcard, token, generated)

    def allows_host(self, header: str | None) -> bool:
        name = _host_part(header) if header else None
        if name is None:
            return False
        if name in self.hosts:
            return True
        addr = _ip(name)
        return addr is not None and (addr.is_loopback or self.any_address)

    def accepts(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def url(self, host: str, port: int) -> str:
        """The address to open: with the one-time ``?token=`` when the token was generated."""
        if host.strip() in WILDCARDS:
            named = sorted(h for h in self.hosts - LOOPBACK_NAMES if _ip(h) is None)
            host = named[0] if named else "127.0.0.1"
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{port}/"
        return (
            f"{base}?token={quote(self.token, safe='')}" if self.generated and self.token else base
        )


def inline_script_policy(html: str) -> str:
    """The page policy plus the hashes of ``html``'s inline scripts (the Swagger UI page),
    so no other inline script runs (CSP Level 3, 'hash-source')."""
    import base64

    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _SCRIPT.findall(html)
    )
    return PAGE_POLICY.replace("script-src 'self'", f"script-src 'self' {hashes}".rstrip())


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


class SecurityMiddleware:
    """Host check, then the token, then the headers, for every HTTP request."""

    def __init__(self, app: ASGIApp, access: Access | None = None) -> None:
        self.app = app
        self.access = access or Access()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        access = self.access
        refusal: Response | None = None
        if not access.allows_host(headers.get("host")):
            refusal = JSONResponse(
                {
                    "detail": "this Host is not one the monitor serves; open it by the address "
                    "it printed, or start it with --allowed-host NAME"
                },
                status_code=403,
            )
        elif access.token is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
            from_url = next((v for k, v in query if k == "token"), None)
            if from_url is not None and access.accepts(from_url) and scope["type"] == "http":
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                refusal = Response(status_code=303, headers={"Cache-Control": "no-store"})
                refusal.headers["Location"] = quote(scope["path"]) + (f"?{rest}" if rest else "")
                refusal.set_cookie(COOKIE, access.token, httponly=True, samesite="strict")
            elif not (
                access.accepts(_bearer(headers))
                or access.accepts(cookie_parser(headers.get("cookie", "")).get(COOKIE))
            ):
                refusal = JSONResponse(
                    {
                        "detail": "this monitor needs its access token: open the URL it "
                        "printed at start, or send Authorization: Bearer <token>"
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await refusal(scope, receive, _with_headers(send))
            return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in HEADERS.items():
                headers.setdefault(name, value)
            html = headers.get("content-type", "").startswith("text/html")
            headers.setdefault("Content-Security-Policy", PAGE_POLICY if html else API_POLICY)
        await send(message)

    return wrapped
