"""Exceptions raised by gwrtt.

Every error that ends a run derives from :class:`GwrttError`, so a caller can catch them all in
one place. The timeouts also derive from :class:`TimeoutError`.
"""


class GwrttError(Exception):
    """Base class of every error that gwrtt raises on purpose."""


class UsageError(GwrttError):
    """An option, a file it names, or the environment it relies on is invalid.

    Raised before anything is created or started. The message names the option or file and the
    value, on one line.
    """


class GatewayStartError(GwrttError):
    """The gateway could not be started, or it exited before it was ready."""

    def __init__(self, message, *, exit_code=None, stderr_tail=""):
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class PortInUseError(GatewayStartError):
    """The gateway exited because its port was taken before it could bind it."""


class GatewayNotReadyError(GwrttError, TimeoutError):
    """``/readyz`` did not return 200 within the ready timeout."""


class ConnectError(GwrttError):
    """The WebSocket could not be opened or the gateway rejected ``connect``."""

    def __init__(self, message, *, code=None, retryable=False, retry_after_ms=None):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms


class ConnectionLostError(GwrttError):
    """The WebSocket closed or failed while requests were pending."""


class RpcTimeoutError(GwrttError, TimeoutError):
    """A request got no response within the request timeout."""

    def __init__(self, message, *, method, request_id, timeout):
        super().__init__(message)
        self.method = method
        self.request_id = request_id
        self.timeout = timeout


class RpcFailedError(GwrttError):
    """A measured request got a response with ``ok: false``."""

    def __init__(self, message, *, method, error):
        super().__init__(message)
        self.method = method
        self.error = error


class CleanupError(GwrttError):
    """The gateway's process tree or its temporary root could not be removed."""


class Interrupted(BaseException):
    """A termination signal arrived while a run was in progress.

    It derives from :class:`BaseException`, as :class:`KeyboardInterrupt` does, so that a broad
    ``except Exception`` in measuring code does not swallow it.
    """

    def __init__(self, signum):
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")
