"""The command-line options every berth server shares: its connection limits and timeouts
(api/serving.py), and raising the descriptor limit before it listens."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.serving import DEFAULT_LIMITS, ServerLimits

_NAMES = ("header_timeout", "body_timeout", "keepalive_timeout", "max_connections")


def server_limit_options(max_connections: int = DEFAULT_LIMITS.max_connections
                         ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the limit options to a click command, which then gets `limits: ServerLimits`."""
    seconds = click.FloatRange(min=0.001)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in _NAMES}
            return command(limits=ServerLimits(**values), **kwargs)

        options = [
            click.option("--header-timeout", default=DEFAULT_LIMITS.header_timeout,
                         show_default=True, type=seconds,
                         help="Seconds a client has to send a request's headers."),
            click.option("--body-timeout", default=DEFAULT_LIMITS.body_timeout,
                         show_default=True, type=seconds,
                         help="Seconds a client has to send a request's body (else 408)."),
            click.option("--keepalive-timeout", default=DEFAULT_LIMITS.keepalive_timeout,
                         show_default=True, type=seconds,
                         help="Seconds an idle keep-alive connection is kept open."),
            click.option("--max-connections", default=max_connections, show_default=True,
                         type=click.IntRange(min=1),
                         help="Open connections per listener; beyond it the oldest idle "
                              "one is closed, or a 503 if none is idle."),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def bearer_from_file(path: str | None, option: str) -> str | None:
    """`Bearer <token>` from a file holding a token (`berth token create`'s last line)."""
    if path is None:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=option) \
            from None
    if not token or any(c.isspace() for c in token):
        raise click.BadParameter(f"{path} does not hold one token", param_hint=option)
    return f"Bearer {token}"


def tls_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--tls-cert` / `--tls-key` (both or neither); the command gets `tls`: the server's
    SSL context, or None for plain HTTP."""
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        from api.tls import TlsError, server_context
        cert, key = kwargs.pop("tls_cert"), kwargs.pop("tls_key")
        if (cert is None) != (key is None):
            raise click.UsageError("--tls-cert and --tls-key go together")
        try:
            tls = server_context(cert, key) if cert else None
        except TlsError as exc:
            raise click.UsageError(str(exc)) from None
        return command(tls=tls, tls_cert=cert, **kwargs)

    wrapper = click.option("--tls-key", type=click.Path(dir_okay=False),
                           help="Its private key (PEM).")(wrapper)
    return click.option("--tls-cert", type=click.Path(dir_okay=False),
                        help="Serve HTTPS with this certificate (PEM, chain first).")(wrapper)


def master_ca_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--master-ca FILE`: the command gets `master_ssl`, the client context trusting it."""
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        from api.tls import TlsError, client_context
        ca = kwargs.pop("master_ca")
        try:
            return command(master_ssl=client_context(ca) if ca else None, **kwargs)
        except TlsError as exc:
            raise click.UsageError(str(exc)) from None

    return click.option("--master-ca", type=click.Path(dir_okay=False),
                        help="CA (or self-signed certificate) to trust for an https master "
                             "[default: the system's].")(wrapper)


def credit_unit_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--credit-unit "cpus:1;mem:1024"`: the command gets `credit_unit` (offers.quota)."""
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        from executor.capacity import parse_amounts
        from offers.quota import CreditUnit
        text = kwargs.pop("credit_unit")
        try:
            amounts = parse_amounts(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--credit-unit") from None
        if amounts.cpus <= 0 or amounts.mem <= 0:
            raise click.BadParameter("needs cpus > 0 and mem > 0, e.g. cpus:1;mem:1024",
                                     param_hint="--credit-unit")
        return command(credit_unit=CreditUnit(amounts.cpus, amounts.mem), **kwargs)

    return click.option("--credit-unit", default="cpus:1;mem:1024", show_default=True,
                        help="One credit is an hour of this much capacity.")(wrapper)


def _retention(_ctx, _param, value):
    if value is None:
        return None
    from persistence.metrics import parse_retention

    try:
        return parse_retention(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _history_retention(_ctx, _param, value):
    """`30d`, `12h`, `90m` or seconds, as seconds."""
    if value is None:
        return None
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    text = value.strip().lower()
    unit = units.get(text[-1:])
    try:
        seconds = float(text[:-1]) * unit if unit else float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise click.BadParameter(f"{value!r} is not a period such as 30d, 12h or 3600")
    return seconds


history_retention_option = click.option(
    "--history-retention", "history_retention", default=None, callback=_history_retention,
    help="How long the framework keeps the history `berth sim --replay-from` replays "
         "(ended instances, agents seen and lost): 30d, 12h, seconds [30d]")

metrics_retention_option = click.option(
    "--metrics-retention", "metrics_retention", default=None, callback=_retention,
    help="How long metrics stay raw, then as each rollup: raw=<keep>,<step>=<keep>,... "
         "[raw=1h,1m=1d,1h=30d]")
