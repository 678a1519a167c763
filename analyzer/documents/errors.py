"""The one exception the documents layer raises: a sentence an analyst can act on."""

from __future__ import annotations


class DocumentError(Exception):
    """A document could not be turned into text.

    str(error) is ONE clear sentence for the analyst (it becomes the row's `error` cell),
    never a traceback. `pages` is the page count when the file could be parsed far enough to
    know it (a scanned PDF, a PDF over the page limit), else None.
    """

    def __init__(self, message: str, *, pages: int | None = None) -> None:
        super().__init__(message)
        self.pages = pages

    def __reduce__(self) -> tuple[object, ...]:
        # Keep `pages` when the error crosses a process or a pickle.
        return (_rebuild, (str(self), self.pages))


def _rebuild(message: str, pages: int | None) -> DocumentError:
    return DocumentError(message, pages=pages)
