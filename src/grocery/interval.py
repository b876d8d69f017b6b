"""The data interval a stage works on: one day, a range of days, or everything the source holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from grocery.errors import ConfigError


@dataclass(frozen=True)
class DataInterval:
    """Inclusive range of sales dates; both ends None means "everything"."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ConfigError(
                "a data interval needs both --start and --end", hint="or use --date for one day"
            )
        if self.start and self.end and self.start > self.end:
            raise ConfigError(
                f"--start {self.start} is after --end {self.end}", hint="give the earlier date first"
            )

    @classmethod
    def everything(cls) -> DataInterval:
        return cls()

    @classmethod
    def day(cls, day: date) -> DataInterval:
        return cls(day, day)

    @classmethod
    def from_options(cls, day: date | None, start: date | None, end: date | None) -> DataInterval:
        """Build the interval from the CLI's --date / --start / --end."""
        if day and (start or end):
            raise ConfigError("--date cannot be combined with --start/--end", hint="use one or the other")
        if day:
            return cls.day(day)
        return cls(start, end)

    @property
    def is_everything(self) -> bool:
        return self.start is None

    def days(self) -> list[date]:
        assert self.start and self.end, "an open interval has no list of days"
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __str__(self) -> str:
        if self.is_everything:
            return "everything"
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start} .. {self.end}"

    @classmethod
    def parse(cls, text: str) -> DataInterval:
        """The interval `str()` wrote (a manifest keeps its delivery's so); ValueError when it is not one."""
        if text == "everything":
            return cls.everything()
        first, _, last = text.partition(" .. ")
        return cls(date.fromisoformat(first), date.fromisoformat(last or first))

    def options(self) -> str:
        """The command-line options of this interval: `--date D`, `--start A --end B`, or none."""
        if self.is_everything:
            return ""
        if self.start == self.end:
            return f"--date {self.start}"
        return f"--start {self.start} --end {self.end}"
