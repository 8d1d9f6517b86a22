"""Progress bars and a closing summary for long management commands.

On a terminal the bar redraws in place; piped into a log (or a test) it prints a plain line at
each tenth of the work, so the output stays short and readable.
"""

import time

from django.core.management.base import BaseCommand


class Progress:
    def __init__(self, command: BaseCommand, *, total: int, label: str, width: int = 30):
        self.out = command.stdout
        self.style = command.style
        self.total = total
        self.label = label
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._tty = self.out.isatty()
        self._last_tenth = -1
        self._drawn = False

    def _line(self, message: str) -> str:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        percent = 100 * self.done / self.total if self.total else 100
        bar = "#" * filled + "." * (self.width - filled)
        text = f"{self.label} [{bar}] {self.done:,}/{self.total:,} ({percent:.0f}%)"
        return f"{text} {message}".rstrip()

    def update(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record that `done` units (of `total`, if it changed) are finished."""
        if total is not None:
            self.total = total
        self.done = done
        if self._tty:
            self.out.write(f"\r\033[K{self._line(message)}", ending="")
            self.out.flush()
            self._drawn = True
            return
        tenth = int(10 * done / self.total) if self.total else 10
        if message or tenth != self._last_tenth:
            self._last_tenth = tenth
            self.out.write(self._line(message))

    def step(self, message: str) -> None:
        """One more unit of staged work is starting: say which."""
        self.update(min(self.done + 1, self.total), message=message)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def finish(self, summary: str) -> None:
        """End the bar and print the summary with the time it took."""
        if self._drawn:
            self.out.write("")
        self.out.write(self.style.SUCCESS(f"{summary} ({self.elapsed:.1f}s)"))
