"""Options that several benchmark scripts take, read as the ssgan CLI reads them.

``--seeds`` is a list of seeds and ranges (``1,2,4``, ``1-6``, ``1-3,7``), where a bare number
is that one seed: a script names the seeds it compares, where ``ssgan fit --seeds 3`` counts
three. A mistake is argparse's one-line error, with ssgan's reason in it.
"""

from __future__ import annotations

import argparse

from ssgan.config import seed_list
from ssgan.errors import SSGANError


def seeds_option(text: str) -> list[int]:
    """``--seeds``: the seeds that ``text`` lists, for ``add_argument(type=seeds_option)``.

    >>> seeds_option("1-3,7"), seeds_option("4")
    ([1, 2, 3, 7], [4])
    """
    try:
        return seed_list(text)
    except SSGANError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
