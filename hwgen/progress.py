"""Progress display shared by the verbs: a rich bar on stderr, silent when asked."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


def stderr_console(quiet: bool = False) -> Console:
    """The console progress goes to: stderr, so ``--json`` output on stdout stays clean."""
    return Console(stderr=True, quiet=quiet)


@contextmanager
def count_bar(console: Console, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar from 0 to ``total``; yields ``update(done)`` (absolute count).

    Nothing is drawn when the console is quiet or not a terminal (logs and
    pipes get no bar debris).

    Examples
    --------
    >>> with count_bar(stderr_console(quiet=True), "images", 3) as update:
    ...     update(3)
    """
    if console.quiet or not console.is_terminal:
        yield lambda done: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)
