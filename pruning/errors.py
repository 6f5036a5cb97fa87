"""Errors that mean "the input is wrong", reported as one line and exit code 2."""


class UserError(Exception):
    """Bad input: the CLI prints the message and exits with code 2."""


class ConfigError(UserError, ValueError):
    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(message if parameter in message else f"{parameter}: {message}")


class DataError(UserError):
    """Data files missing, unreadable or of the wrong shape."""


class TrackingError(UserError):
    """The MLflow tracking store cannot be used."""


class Unavailable(Exception):
    """A server the command needs (tracking server, study database) stopped answering for
    longer than the retries: one line and exit code 3, never taken for bad input."""


class StorageUnavailable(Unavailable):
    """The study's database (or the proxy in front of it) stayed unreachable."""
