"""The HTTP client the `berth task` and `berth job` commands share: one exchange with the
framework's REST API, its errors printed field by field."""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import urllib.error
import urllib.request
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:7075"
STATE_STYLE = {"RUNNING": "green", "PENDING": "yellow", "STAGING": "cyan", "STARTING": "cyan",
               "KILLING": "magenta", "FINISHED": "dim", "KILLED": "dim", "FAILED": "red",
               "LOST": "red", "ERROR": "bold red"}


# The connection broke after the request may have arrived: the answer is unknown.
DROPPED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, TimeoutError,
           http.client.RemoteDisconnected, http.client.IncompleteRead)


def credentials() -> dict[str, str]:
    """The `Authorization` header from `BERTH_TOKEN`, or `BERTH_USER` and `BERTH_PASSWORD`
    (none: a local berth without users trusts its callers)."""
    token = os.environ.get("BERTH_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token.strip()}"}
    user, password = os.environ.get("BERTH_USER"), os.environ.get("BERTH_PASSWORD")
    if user and password is not None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def tls_context() -> ssl.SSLContext | None:
    """Trust `BERTH_CA` (a private CA or self-signed certificate) for https, if set."""
    ca = os.environ.get("BERTH_CA")
    return ssl.create_default_context(cafile=ca) if ca else None


def open_url(outgoing: urllib.request.Request | str, timeout: float | None):
    """urlopen with berth's credentials and CA."""
    if isinstance(outgoing, str):
        outgoing = urllib.request.Request(outgoing)
    for key, value in credentials().items():
        outgoing.add_header(key, value)
    return urllib.request.urlopen(outgoing, timeout=timeout, context=tls_context())


def request(method: str, url: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, retries: int = 0,
             timeout: float = 30.0) -> tuple[int, Any]:
    """One HTTP exchange; `retries` more attempts when the connection drops mid-way (only
    for requests safe to repeat: reads, or POSTs carrying an Idempotency-Key); `timeout`
    seconds for the answer (longer for a request that waits by design)."""
    outgoing = urllib.request.Request(url, data=body, method=method,
                                      headers={"Content-Type": "application/json",
                                               "Accept": "application/json",
                                               **(headers or {})})
    try:
        with open_url(outgoing, timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except (urllib.error.URLError, *DROPPED) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, DROPPED) and retries > 0:
            return request(method, url, body, headers, retries - 1, timeout)
        if isinstance(reason, DROPPED):
            raise click.ClickException(f"the connection to {url} dropped before an "
                                       f"answer: {reason or type(reason).__name__}") from None
        raise click.ClickException(f"cannot reach {url}: {reason}") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def fail(status: int, answer: Any) -> None:
    if isinstance(answer, dict):
        lines = [answer.get("message", "")]
        lines += [f"  {e.get('field') or '(body)'}: {e.get('problem')}"
                  for e in answer.get("errors", [])]
        raise click.ClickException(f"{status}: " + "\n".join(lines))
    raise click.ClickException(f"{status}: {answer}")


url_option = click.option("--url", default=lambda: os.environ.get("BERTH_URL", DEFAULT_URL),
                          show_default="$BERTH_URL or " + DEFAULT_URL,
                          help="The framework's REST API.")
