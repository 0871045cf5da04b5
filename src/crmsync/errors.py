"""crmsync's exception tree, grouped by what the caller does next: retry, stop, skip the record."""

from __future__ import annotations


class CrmSyncError(Exception):
    """Base of every error crmsync raises on purpose; messages never contain credentials."""


class RetryableError(CrmSyncError):
    """Try again later: the same request can succeed (throttling, outages, network, vendor locks)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    """The vendor asked us to slow down (429, Salesforce's REQUEST_LIMIT_EXCEEDED)."""


class TransientError(RetryableError):
    """A 5xx, a dropped connection, a timeout, a lock: nothing wrong with the request itself."""


class FatalError(CrmSyncError):
    """Stop this connection until a person acts: credentials, permissions, configuration."""


class AuthError(FatalError):
    """The connection's credentials were refused (also after one refresh)."""


class CredentialsRefusedError(AuthError):
    """The CRM refused the connection's credentials themselves: nothing of that connection works until fixed."""


class ConfigError(FatalError):
    """The configuration is wrong: a missing setting, an unknown object or field."""


class QuotaExhaustedError(FatalError):
    """The daily allocation (or crmsync's share of it) is used up until the window rolls."""

    def __init__(self, message: str, *, resets_in: float | None = None) -> None:
        super().__init__(message)
        self.resets_in = resets_in


class SkippableError(CrmSyncError):
    """This record cannot be processed as it is; report it and carry on with the others."""


class InvalidRecordError(SkippableError):
    """The vendor rejected a record's values (validation, required field, bad reference)."""


class VendorResponseError(CrmSyncError):
    """A response that is not what the vendor documents (HTML page, truncated or malformed body).

    Treated as transient by the retry policy: a proxy error page or a cut body usually passes.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SignatureError(CrmSyncError):
    """A webhook whose signature, key or timestamp does not verify; nothing from it is trusted."""
