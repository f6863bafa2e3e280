"""The journal: the engine's durable record, written ahead (DESIGN §7).

An order is recorded before it is sent, a fill before the ledger changes, a command before it
is acknowledged; signals, rankings, risk denials, position and account snapshots and state
changes are recorded as they are published. After a restart, state is rebuilt from here.

- :mod:`engine.journal.tables`: the tables (on the store's metadata, so every
  :class:`~engine.store.database.Database` creates them);
- :mod:`engine.journal.records`: the journal's own records (commands, outcomes, audit
  entries) and :class:`~engine.journal.records.JournalMode`;
- :mod:`engine.journal.rows`: where each record goes, one batch per transaction, with the
  SQL of :mod:`engine.journal.statements`;
- :mod:`engine.journal.writer`: :class:`~engine.journal.writer.JournalWriter`, grouped
  transactions with a bound on the delay, each record answered once committed;
- :mod:`engine.journal.reader`: :class:`~engine.journal.reader.JournalReader`, for the API and
  for rebuilding state; :mod:`engine.journal.views` and :mod:`engine.journal.trades` (round
  trips) are what it returns;
- :mod:`engine.journal.commands`: recording an API command before acknowledging it.

The actor that records what others publish and answers ``WriteAhead`` is
:mod:`actors.journal`.

Nothing is re-exported here: :mod:`engine.store.schema` imports the tables module while the
store package is still being imported, so this package must not import the store on import.
"""
