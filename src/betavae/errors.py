"""The one exception type of betavae.

Every error a user can cause (bad config, bad file, bad shape, diverged loss) is raised as
:class:`BetavaeError` with a message that says what was wrong, where, and what to do. The CLI
prints the message on one line without a traceback (``--debug`` shows it).
"""

from __future__ import annotations


class BetavaeError(Exception):
    """A user-facing error: the message is complete and actionable on its own."""
