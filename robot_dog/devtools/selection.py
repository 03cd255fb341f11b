"""Which topics a recording or a live view takes: shell-style patterns on the full topic name
(`/dog1/*`, `/tf*`), every topic when none is given, minus the excluded ones. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = ()      # patterns; empty = every topic
    exclude: tuple[str, ...] = ()

    def __contains__(self, topic: str) -> bool:
        if any(fnmatchcase(topic, p) for p in self.exclude):
            return False
        return not self.include or any(fnmatchcase(topic, p) for p in self.include)
