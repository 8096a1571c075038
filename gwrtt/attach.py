"""Attach mode: the address and token of a gateway that is already running.

Only loopback addresses are accepted. The gateway allows a ``connect`` without a paired device
only from loopback, and gwrtt does not implement device pairing.
"""

import ipaddress
import os
from urllib.parse import urlsplit

from .errors import UsageError

LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


def parse_url(url):
    """Return ``(host, port)`` of a ``ws://`` URL on a loopback address, or raise ``UsageError``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--url: invalid URL {url!r}: {exc}") from None
    if parts.scheme != "ws":
        raise UsageError(f"--url: expected a ws:// URL, got {url!r}")
    if not parts.hostname:
        raise UsageError(f"--url: no host in {url!r}")
    if port is None:
        raise UsageError(f"--url: no port in {url!r}; the gateway's port is required")

    host = LOOPBACK_NAMES.get(parts.hostname.lower(), parts.hostname)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise UsageError(
            f"--url: {parts.hostname} is not a loopback address; gwrtt connects without a paired "
            f"device, which the gateway allows only on loopback, and device pairing is not supported yet"
        )
    return str(address), port


def read_token(token_file=None, token_env=None, environ=None):
    """Read the gateway token from a file (first line) or an environment variable.

    Raises :class:`UsageError` naming the file or variable, never the token.
    """
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.readline().strip()
        except OSError as exc:
            raise UsageError(f"--token-file: cannot read {token_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--token-file: {token_file} is not UTF-8 text") from None
        if not token:
            raise UsageError(f"--token-file: {token_file} is empty")
        return token

    environ = os.environ if environ is None else environ
    token = (environ.get(token_env) or "").strip()
    if not token:
        raise UsageError(f"--token-env: environment variable {token_env} is not set or empty")
    return token
