"""Progress for long commands (benchmark, report, cache build, zoo fetch, validate --dataset): rich bars on
stderr, one task per phase, gone when the command ends. `Progress(enabled=False)` (--json, or stderr not a
terminal) does nothing, so library code calls it unconditionally."""
from __future__ import annotations

from collections.abc import Callable


class Progress:
    def __init__(self, enabled: bool = True):
        self.enabled, self._bar = enabled, None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def task(self, description: str, total: int | None = None) -> Callable[[int], None]:
        """Start a phase; returns advance(n=1). A phase without a total shows a spinner."""
        if self._bar is None:
            return lambda n=1: None
        for t in self._bar.tasks:  # the previous phase is done
            self._bar.update(t.id, visible=False)
        task_id = self._bar.add_task(description, total=total)
        return lambda n=1: self._bar.advance(task_id, n)


QUIET = Progress(enabled=False)
