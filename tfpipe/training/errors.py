"""Errors the training library raises for problems a user can fix (the CLIs print them)."""
from __future__ import annotations


class TrainError(RuntimeError):
    """A problem the user can fix (missing data, corrupt shard, clashing run); the message says how."""
