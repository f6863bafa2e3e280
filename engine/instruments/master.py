"""The instrument master: every instrument the engine knows, looked up by id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from engine.instruments.instrument import Instrument
from engine.instruments.instrument_file import read_instruments


class InstrumentMaster:
    """The instruments the engine knows, by id, in the order given. Immutable once built."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        """Raises ``ValueError`` naming the id if two instruments share one."""
        self._by_id: dict[str, Instrument] = {}
        for instrument in instruments:
            if instrument.id in self._by_id:
                raise ValueError(f"duplicate instrument id {instrument.id!r}")
            self._by_id[instrument.id] = instrument

    @classmethod
    def load(cls, path: str | Path) -> InstrumentMaster:
        """The instruments in ``path``, a CSV or TOML file (formats in
        :mod:`engine.instruments.instrument_file`).

        Raises :class:`engine.config.load.ConfigError` listing every problem in the file.
        """
        return cls(read_instruments(path))

    def __getitem__(self, instrument_id: str) -> Instrument:
        """Raises ``KeyError`` naming the id if it is not in the master."""
        try:
            return self._by_id[instrument_id]
        except KeyError:
            raise KeyError(f"unknown instrument {instrument_id!r}") from None

    def get(self, instrument_id: str) -> Instrument | None:
        """The instrument with this id, or ``None``."""
        return self._by_id.get(instrument_id)

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._by_id

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        """Every id, in the order given."""
        return list(self._by_id)
