"""Tables that stay readable at any terminal width, for every command that prints one."""

from __future__ import annotations  # no Typer commands here: rich is imported only when a table prints

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Column, Table


def fitted_table(title: str, columns: Sequence[Column], rows: Iterable[Sequence[str]], width: int, drop: Sequence[str] = ()) -> Table:
    """A table that stays readable `width` cells wide (80 when piped), for every command that prints one.

    A `no_wrap` column keeps its widest cell whole; any other column gets at least its
    `min_width` (10 if unset), or its widest cell if narrower, and wraps or folds within
    that. While those do not fit, the columns named in `drop` go, in that order (`--json`
    has them all). Left alone, rich squeezes every column alike, down to a letter a line.
    """
    from rich.table import Table
    from rich.text import Text

    rows = [list(row) for row in rows]
    widest = [
        max([len(word) for word in str(column.header).split()] + [Text.from_markup(row[index]).cell_len for row in rows])
        for index, column in enumerate(columns)
    ]
    # a no_wrap column's header stays on one line too; others may break it between words
    header = [len(str(column.header)) if column.no_wrap else max((len(word) for word in str(column.header).split()), default=0) for column in columns]
    widest = [max(widest[index], header[index]) for index in range(len(columns))]
    need = [
        widest[index] if column.no_wrap else max(header[index], min(widest[index], column.min_width or 10))
        for index, column in enumerate(columns)
    ]
    kept = list(range(len(columns)))

    def room() -> int:  # for the cells: less padding 1 each side and a rule between and around the columns
        return width - 3 * len(kept) - 1

    for name in drop:
        if sum(need[index] for index in kept) <= room():
            break
        kept = [index for index in kept if columns[index].header != name]
    fits = sum(need[index] for index in kept) <= room()
    wrapping = [index for index in kept if not columns[index].no_wrap]
    widths = {index: widest[index] for index in wrapping}
    if fits:  # share what the key columns leave among the wrapping ones, widest first, none under its need
        spare = room() - sum(need[index] for index in kept if columns[index].no_wrap)
        level = max(widths.values(), default=0)
        while level > 0 and sum(max(need[index], min(widest[index], level)) for index in wrapping) > spare:
            level -= 1
        widths = {index: max(need[index], min(widest[index], level)) for index in wrapping}
    table = Table(title=title, title_justify="left")
    for index in kept:
        column = columns[index]
        if not fits:  # not even the key columns fit: everything folds rather than run off the screen
            column = dataclasses.replace(column, no_wrap=False, overflow="fold", min_width=None)
        elif not column.no_wrap and widths[index] < widest[index]:
            column = dataclasses.replace(column, width=widths[index], min_width=None)
        else:
            column = dataclasses.replace(column, min_width=need[index])
        table.columns.append(column)
    for row in rows:
        table.add_row(*(row[index] for index in kept))
    return table
