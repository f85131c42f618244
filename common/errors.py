"""User-facing errors of the ``stegavox`` application, each with its documented exit code."""


class StegavoxError(Exception):
    """Base class: a clear one-line message and the process exit code it maps to."""

    exit_code = 1


class InputError(StegavoxError):
    """Bad input or usage: unreadable/corrupt file, too-small cover, existing output, ..."""

    exit_code = 2


class PayloadUnrecoverableError(StegavoxError):
    """The hidden payload could not be recovered (too many bit errors, no container found)."""

    exit_code = 3


class AuthenticationError(StegavoxError):
    """Decryption failed: wrong passphrase or a payload altered beyond what BCH corrected."""

    exit_code = 4
