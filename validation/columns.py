"""Sizes and ranges read from table columns, so what a field accepts and what
its column holds come from one declaration (the column) and cannot disagree:
a Varchar(100) takes at most 100 characters, a Text column validation's
TEXT_MAX, a SmallInt -32768..32767, an Integer 32 bits."""

from __future__ import annotations

from piccolo.columns import BigInt, Integer, SmallInt, Text, Varchar
from piccolo.columns.base import Column

from validation import INT_MAX, INT_MIN, TEXT_MAX


def max_length(column: Column) -> int | None:
    """The most characters the column holds (None: not a text column)."""
    if isinstance(column, Varchar):
        return column.length
    if isinstance(column, Text):
        return TEXT_MAX
    return None


def is_multiline(column: Column) -> bool:
    """Text columns hold notes and addresses: line breaks allowed."""
    return isinstance(column, Text)


def int_range(column: Column) -> tuple[int, int] | None:
    if isinstance(column, SmallInt):
        return -(2**15), 2**15 - 1
    if isinstance(column, BigInt):
        return -(2**63), 2**63 - 1
    if isinstance(column, Integer):
        return INT_MIN, INT_MAX
    return None
