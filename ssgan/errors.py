"""The one exception type for mistakes a user can fix."""


class SSGANError(ValueError):
    """Bad input: the message says what was wrong and what to do.

    The CLI prints it as a one-line ``Error: ...`` and exits with code 2.
    """


class DataWarning(UserWarning):
    """Something about the data that the user should know, though the command can go on
    (a constant feature, test values far outside the training range, a run folder whose run
    diverged). The CLI prints it as one line, ``Warning: ...``."""


# what to do about a file of a run folder that is damaged (an edit gone wrong, a copy cut short):
# ssgan writes each of them whole, so the folder's own copy elsewhere, or the file before the edit, is good
MEND_RUN_FILE = "undo the edit, or copy the run folder again from where it was made"


def first_line(message: str) -> str:
    """The first non-blank line of a (multi-line) message from a library, stripped; "" if none:
    what a one-line error quotes of torch's reason."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "")


def joined_lines(message: str) -> str:
    """A library's (multi-line) message as one line: its non-blank lines, stripped, joined by
    spaces; what a one-line error quotes where every line counts (torchvision's download error
    names the file, the address and the reason on three).

    >>> joined_lines("Error downloading a.gz:\\nTried http://x/, got:\\n<urlopen error>\\n")
    'Error downloading a.gz: Tried http://x/, got: <urlopen error>'
    """
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
