"""One exception hierarchy. The CLI prints ``str(error)`` on one line and exits with ``exit_code``."""

from __future__ import annotations


class AnomsetError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 1

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.file = file
        self.field = field
        self.fix = fix
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file and self.field:
            where = f"{self.file}: {self.field}: "
        elif self.file:
            where = f"{self.file}: "
        elif self.field:
            where = f"{self.field}: "
        text = f"{where}{self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return " ".join(text.split())


class RecipeError(AnomsetError):
    """The recipe is invalid: the message names the file and the dotted field path."""

    exit_code = 2


class SourceError(AnomsetError):
    """Input data is missing, unreadable or inconsistent."""

    exit_code = 3


class OutputError(AnomsetError):
    """The output folder cannot be used as asked (it holds something else, or is corrupt)."""

    exit_code = 4


class SynthesisError(AnomsetError):
    """A synthesizer could not produce a valid anomaly with the given parameters."""

    exit_code = 5


class PublishError(AnomsetError):
    """Pushing to the Hub failed or was refused."""

    exit_code = 6


class PeerError(AnomsetError):
    """Another process of a multi-process build failed (it printed why); this one stops too."""

    exit_code = 7

    def __init__(self, rank: int) -> None:
        super().__init__(f"rank {rank}: another process of this build failed; see its error")


class UnknownNameError(RecipeError):
    """A registry lookup failed; the message lists close matches."""
