"""Monthly partitions of the high-volume tables on PostgreSQL: made ahead of
time for as long as the service runs, and dropped whole once past retention.

A row whose month has no partition lands in ``<table>_default``; a default
holding rows of a month blocks ``CREATE TABLE ... PARTITION OF`` for it. So a
month is always made as a table of its own, filled with whatever the default
holds of that month, and then attached: in one transaction, under a lock that
other workers of a cluster wait on.

Retention drops a month (detach, drop) once every row in it is past its
cutoff and no evidence hold keeps any of them: first every chained row leaves
its link and content digest in ``pruned_links`` (one COPY), so the evidence
chain still verifies across the month. A month that holds keep is left to the
row-by-row pruning (``pruning.prune``), which deletes only what is not held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emon.storage import ledger
from emon.storage.chain import content_digest
from emon.storage.holds import HELD_FIX, HELD_MESSAGE
from emon.timeutil import Millis

#: months made ahead of the clock: an upkeep that could not run (the database
#: away, the service down) for up to this long still sends no row to the default
MONTHS_AHEAD = 3
#: the month before the clock too: a store-and-forward batch may be weeks old
MONTHS_BACK = 1
#: months of the default's rows made at most in one repair (a broken device clock
#: of 1970 must not make 700 partitions; what is left stays in the default)
REPAIR_MONTHS_MAX = 36
#: the partitioned tables and their partition key
PARTITIONED = {"messages": "recv", "fixes": "ts"}
#: chained rows read (and their links copied) at a time when a month is dropped
LINK_BATCH = 20_000
#: how long dropping a month waits for the table lock before it tries again next round
DETACH_WAIT_MS = 2000
#: advisory lock held while a month is made or dropped (several workers run upkeep)
LOCK = 424243

#: a row of a month held as evidence: the same tests as the row pruning's
HELD = {"fixes": HELD_FIX, "messages": HELD_MESSAGE}


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def at(cls, ms: Millis) -> Month:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        return cls(moment.year, moment.month)

    def shifted(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def lo(self) -> Millis:
        return int(datetime(self.year, self.month, 1, tzinfo=UTC).timestamp() * 1000)

    @property
    def hi(self) -> Millis:
        return self.shifted(1).lo

    def name(self, table: str) -> str:
        return f"{table}_{self.year:04d}{self.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    count = (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
    return [first.shifted(k) for k in range(max(count, 0))]


def ensure(db: Any, now: Millis) -> list[str]:
    """Every month from ``MONTHS_BACK`` before ``now`` to ``MONTHS_AHEAD`` after,
    and every month the default holds rows of; returns the partitions made."""
    made = []
    here = Month.at(now)
    for table, key in PARTITIONED.items():
        db.execute(f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT")
        wanted = months_between(here.shifted(-MONTHS_BACK), here.shifted(MONTHS_AHEAD))
        lo, hi = db.execute(f"SELECT min({key}), max({key}) FROM {table}_default").fetchone()
        if lo is not None:
            stray = months_between(Month.at(int(lo)), Month.at(int(hi)))[:REPAIR_MONTHS_MAX]
            wanted = sorted(set(wanted) | set(stray), key=lambda m: m.lo)
        made += [name for month in wanted if (name := _make(db, table, key, month))]
    return made


def _make(db: Any, table: str, key: str, month: Month) -> str | None:
    """One month: made, filled from the default, attached (None if it exists)."""
    name = month.name(table)
    if _exists(db, name):
        return None
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        if _exists(db, name):
            return None  # another worker made it meanwhile
        db.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        db.execute(
            f"WITH moved AS (DELETE FROM {table}_default WHERE {key} >= %s AND {key} < %s "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            (month.lo, month.hi),
        )
        db.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ({month.lo}) TO ({month.hi})"
        )
    return name


def _exists(db: Any, name: str) -> bool:
    row = db.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    return row is not None and row[0] is not None


def months_of(db: Any, table: str) -> list[Month]:
    """The monthly partitions attached to ``table``, oldest first."""
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        (table,),
    ).fetchall()
    found = []
    for (relname,) in rows:
        suffix = relname.removeprefix(f"{table}_")
        if suffix.isdigit() and len(suffix) == 6:
            found.append(Month(int(suffix[:4]), int(suffix[4:])))
    return sorted(found, key=lambda m: m.lo)


def drop_expired(db: Any, table: str, before: Millis) -> list[str]:
    """Drop every month of ``table`` that ends by ``before`` and that no hold
    reaches into, its chain links kept in ``pruned_links``; returns the names."""
    dropped = []
    for month in months_of(db, table):
        if month.hi > before:
            break
        name = month.name(table)
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            if not _exists(db, name) or held(db, table, name):
                continue
            keep_links(db, table, name)
            # detaching locks the whole table: a long read (a year's export) must
            # not queue every writer behind it; the month goes at the next round
            db.execute(f"SET LOCAL lock_timeout = '{DETACH_WAIT_MS}ms'")
            db.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
            db.execute(f"DROP TABLE {name}")
        dropped.append(name)
    return dropped


def held(db: Any, table: str, name: str) -> bool:
    """Whether a hold keeps any row of the month (its table named as the parent's)."""
    held = f"SELECT 1 FROM {name} AS {table} WHERE {HELD[table]} LIMIT 1"
    return db.execute(held).fetchone() is not None


def keep_links(db: Any, table: str, name: str) -> None:
    """Every chained row's link and content digest into ``pruned_links``,
    read and copied ``LINK_BATCH`` rows at a time."""
    spec = ledger.FIXES if table == "fixes" else ledger.MESSAGES
    digest = "digest" if table == "messages" else "NULL"
    after = -1
    while True:
        rows = db.execute(
            f"SELECT chain_seq, hash, {digest}, {spec.time}, {spec.columns} FROM {name} "
            f"WHERE chain_seq > %s ORDER BY chain_seq LIMIT {LINK_BATCH}",
            (after,),
        ).fetchall()
        if not rows:
            return
        with (
            db.cursor() as out,
            out.copy("COPY pruned_links (chain_seq, hash, digest, kind, at) FROM STDIN") as copy,
        ):
            for seq, link, kept, at, *content in rows:
                kept = kept or content_digest(spec.kind, spec.content(content))
                copy.write_row((seq, link, kept, spec.kind, at))
        after = rows[-1][0]
