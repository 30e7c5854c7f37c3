"""Progress and output for the long management commands, as Django users expect them.

`progress_bar` is a tqdm bar (counts, rate, time left when the total is known)
on the command's stderr, shown only when stderr is a terminal and --verbosity
is at least 1: under cron, in `docker compose logs`, in pipes and in tests the
commands stay quiet and print their summary only.

`--dry-run` of the commands that write (`import_records`, `load_policies`) runs
the real code inside `dry_run_atomic`, a transaction that is always rolled
back: what they report is what a real run would do, and nothing is written
(the audit entry and any task enqueued on commit included).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm


def _stream(command: BaseCommand):
    return getattr(command.stderr, "_out", command.stderr)


def progress_enabled(command: BaseCommand, *, verbosity: int) -> bool:
    stream = _stream(command)
    return verbosity >= 1 and bool(getattr(stream, "isatty", lambda: False)())


def progress_bar(
    command: BaseCommand, *, verbosity: int, total: int | None, unit: str, desc: str = ""
) -> tqdm:
    """A bar on a terminal, a no-op object otherwise (`update` and `close` still work)."""
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=_stream(command),
        disable=not progress_enabled(command, verbosity=verbosity),
        dynamic_ncols=True,
        leave=True,
    )


@contextmanager
def dry_run_atomic(dry_run: bool) -> Iterator[None]:
    """Run the block in a transaction that is rolled back when `dry_run` is true."""
    if not dry_run:
        yield
        return
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
