"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class CharmError(Exception):
    """A user-facing error: the message names the file/record/field and what to do."""


class InputFormatError(CharmError):
    """A malformed input file. Nothing from that file is imported."""

    def __init__(self, path: str, where: str, field: str | None, problem: str):
        self.path, self.where, self.field, self.problem = path, where, field, problem
        location = f"{path}: {where}" + (f": field '{field}'" if field else "")
        super().__init__(f"{location}: {problem}")
