"""User-facing errors: the ``stegavox`` application's (each with its documented exit code) and the
training CLI's missing data or weights."""


class StegavoxError(Exception):
    """Base class: a clear one-line message and the process exit code it maps to."""

    exit_code = 1


class InputError(StegavoxError):
    """Bad input or usage: unreadable/corrupt file, too-small cover, existing output, ..."""

    exit_code = 2


class PayloadUnrecoverableError(StegavoxError):
    """The hidden payload could not be recovered (too many bit errors, no container found)."""

    exit_code = 3


class PayloadNotFoundError(PayloadUnrecoverableError):
    """No payload under this passphrase: nothing hidden, another passphrase, or a header damaged
    beyond repair (one answer for all three; the receiver may then try another hiding method)."""


class AuthenticationError(StegavoxError):
    """Decryption failed: wrong passphrase or a payload altered beyond what BCH corrected."""

    exit_code = 4


class ResourceUnavailableError(Exception):
    """A dataset or pretrained weights that an experiment needs are not on this machine.

    The message is one line that names what is missing, the expected layout and where the
    docs/training.md explains how to obtain it; the training CLI prints it and exits before training.
    """
