"""Event-log backends: :class:`SQLiteEventLog` (embedded) and :class:`PostgresEventLog`.

Both implement :class:`ecorec.data.protocols.EventLog` plus ``delete_user`` and the context
manager protocol, and both pass :class:`ecorec.testing.eventlog.EventLogContract`.
"""

from ecorec.data.eventlog.postgres import PostgresEventLog
from ecorec.data.eventlog.sqlite import SQLiteEventLog

__all__ = ["PostgresEventLog", "SQLiteEventLog"]
