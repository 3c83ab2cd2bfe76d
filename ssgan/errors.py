"""The one exception type for mistakes a user can fix."""


class SSGANError(ValueError):
    """Bad input: the message says what was wrong and what to do.

    The CLI prints it as a one-line ``Error: ...`` and exits with code 2.
    """


class DataWarning(UserWarning):
    """Something about the data that the user should know, though training can go on
    (a constant feature, test values far outside the training range). The CLI prints it as
    one line, ``Warning: ...``."""
