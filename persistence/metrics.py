"""The metrics store: samples of named, tagged series in SQL (SQLite by default,
PostgreSQL by URL), kept raw for a while, then as 1-minute and 1-hour rollups, then
dropped, so its size is bounded by the number of series, not by time.

Its tables migrate on their own (persistence/metrics_migrations, version table
`metrics_alembic_version`): the store is opened by the framework, the benchmarks and the
tests alike, and it does not change with the framework's own tables.

Each level is complete over [its `from:` mark, its `rolled:` mark) (raw points from
`from:raw` on): `compact()` rolls complete buckets up and prunes only what the next level
has rolled. A query takes whole buckets of the coarsest level that holds them and the
edges from finer ones, so every sample counts once and a day's question reads a few
hundred rows a series. Blocking by design: callers on an event loop run it on a worker
thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, delete, event, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from persistence.database import make_engine, upgrade
from persistence.metric_input import AGGREGATIONS, GROUPINGS, Sample
from persistence.metrics_buckets import bucket
from persistence.metrics_models import GROUP_TAGS, MARKS, POINTS, ROLLUPS, SERIES
from persistence.metrics_retention import Retention, parse_retention

__all__ = ["MetricsStore", "Retention", "Series", "parse_retention", "tags_key"]

MIGRATIONS = Path(__file__).parent / "metrics_migrations"
CACHE_KIB = 65536
MAX_IDS = 5000  # series ids per statement
RAW = "raw"


@dataclass
class _Acc:
    """Running summaries of one group (or one group's bucket) across levels."""

    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last_t: int = -1
    last: float = math.nan

    def add(self, count, total, low, high, last_t, last) -> None:
        self.count += int(count)
        self.sum += float(total)
        self.min = min(self.min, float(low))
        self.max = max(self.max, float(high))
        if last is not None and last_t >= self.last_t:
            self.last_t, self.last = int(last_t), float(last)

    def value(self, agg: str) -> float | None:
        if not self.count:
            return None
        return {"mean": self.sum / self.count, "sum": self.sum, "min": self.min,
                "max": self.max, "last": self.last}[agg]


@dataclass(frozen=True)
class Series:
    id: int
    name: str
    tags: dict[str, str] = field(default_factory=dict)


def _larger_cache(dbapi_connection, _record) -> None:
    """64 MiB of page cache per connection: samples arrive for every series at once, so
    each batch touches a page per series, and a small cache reads them from disk again."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def tags_key(tags: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())), separators=(",", ":"))


class MetricsStore:
    def __init__(self, url: str | None = None, engine: Engine | None = None,
                 retention: Retention | None = None) -> None:
        self.engine = engine or make_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _larger_cache)
        self.retention = retention or Retention()
        upgrade(self.engine, MIGRATIONS)
        self._ids: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        upsert = dialect.insert(POINTS)
        self._put_points = upsert.on_conflict_do_update(
            index_elements=["t", "series_id"], set_={"value": upsert.excluded.value})
        roll = dialect.insert(ROLLUPS)
        self._put_rollups = roll.on_conflict_do_update(
            index_elements=["series_id", "step", "t"],
            set_={c: roll.excluded[c] for c in ("count", "sum", "min", "max", "last")})
        self._new_series = dialect.insert(SERIES).on_conflict_do_nothing()
        # SQLite takes positional rows straight to sqlite3's executemany: the embedded
        # store's ingestion is bound by this loop, not by the database.
        sqlite_driver = self.engine.dialect.name == "sqlite"
        self._points_sql = str(self._put_points.compile(dialect=self.engine.dialect)) \
            if sqlite_driver else None
        self._rollups_sql = str(self._put_rollups.compile(dialect=self.engine.dialect)) \
            if sqlite_driver else None

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ----------------------------------------------------------------------------

    def record(self, samples: Iterable[Sample]) -> int:
        """Store the samples in one transaction (a later value at the same millisecond of a
        series replaces the earlier one); how many were stored."""
        rows = []
        ids = self._ids
        with self.engine.begin() as c:
            for s in samples:
                key = (s.name, tuple(sorted(s.tags.items())))
                sid = ids.get(key)
                if sid is None:
                    sid = ids[key] = self._series_id(c, s.name, s.tags)
                rows.append((sid, round(s.at * 1000), s.value))
            if rows and self._points_sql is not None:  # the driver's executemany, as is
                c.exec_driver_sql(self._points_sql, rows)
            elif rows:
                c.execute(self._put_points, [{"series_id": sid, "t": t, "value": v}
                                             for sid, t, v in rows])
        return len(rows)

    def _series_id(self, c: Connection, name: str, tags: Mapping[str, str]) -> int:
        key = tags_key(tags)
        c.execute(self._new_series, {"name": name, "tags": key,
                                     **{t: tags.get(t) for t in GROUP_TAGS}})
        return c.execute(select(SERIES.c.id).where(SERIES.c.name == name,
                                                   SERIES.c.tags == key)).scalar_one()

    def put_rollups(self, rows: list[tuple]) -> None:
        """Write rollup rows as they are, (series_id, step, t in ms, count, sum, min, max,
        last) (the benchmark fills a month with them)."""
        with self.engine.begin() as c:
            self._write_rollups(c, rows)

    def _write_rollups(self, c: Connection, rows: list[tuple]) -> None:
        if not rows:
            return
        if self._rollups_sql is not None:
            c.exec_driver_sql(self._rollups_sql, rows)
        else:
            names = ("series_id", "step", "t", "count", "sum", "min", "max", "last")
            c.execute(self._put_rollups, [dict(zip(names, r, strict=True)) for r in rows])

    def series_id(self, name: str, tags: Mapping[str, str]) -> int:
        key = (name, tuple(sorted(tags.items())))
        if key not in self._ids:
            with self.engine.begin() as c:
                self._ids[key] = self._series_id(c, name, tags)
        return self._ids[key]

    # -- downsampling and retention ----------------------------------------------------------

    def compact(self, now: float) -> dict[str, int]:
        """Roll complete buckets up level by level, then drop what each level no longer
        keeps. Idempotent; run it every minute or so. Counts of rows written and deleted."""
        r = self.retention
        done = {"rolled": 0, "deleted": 0}
        with self.engine.begin() as c:
            marks = dict(c.execute(select(MARKS.c.key, MARKS.c.value)).all())
            source_done = _ms(now - r.grace)  # raw: what can no longer change
            for i, (step, _keep) in enumerate(r.levels):
                step_ms = step * 1000
                end = min(source_done // step_ms * step_ms,
                          marks.get(f"rolled:{r.levels[i - 1][0]}", 0) if i else source_done)
                start = marks.get(f"rolled:{step}")
                if start is None:
                    start = self._oldest(c, i)
                    start = end if start is None else start // step_ms * step_ms
                if end > start:
                    rows = self._fold(c, i, start, end, step_ms).rows(step)
                    self._write_rollups(c, rows)
                    done["rolled"] += len(rows)
                    marks[f"rolled:{step}"] = end
                    self._mark(c, f"rolled:{step}", end)
                source_done = marks.get(f"rolled:{step}", 0)
            done["deleted"] += self._prune(c, now, marks)
        return done

    def _oldest(self, c: Connection, level: int) -> int | None:
        if level == 0:
            return c.execute(select(func.min(POINTS.c.t))).scalar()
        prev = self.retention.levels[level - 1][0]
        return c.execute(select(func.min(ROLLUPS.c.t)).where(ROLLUPS.c.step == prev)).scalar()

    def _fold(self, c: Connection, level: int, start: int, end: int, step_ms: int):
        if level == 0:
            rows = c.execute(select(POINTS.c.series_id, POINTS.c.t, POINTS.c.value)
                             .where(POINTS.c.t >= start, POINTS.c.t < end)
                             .order_by(POINTS.c.series_id, POINTS.c.t)).all()
            cols = list(zip(*rows, strict=True)) if rows else [(), (), ()]
            s, t, v = cols
            return bucket(s, t, [1] * len(s), v, v, v, v, step_ms)
        prev = self.retention.levels[level - 1][0]
        rows = c.execute(select(ROLLUPS.c.series_id, ROLLUPS.c.t, ROLLUPS.c.count,
                                ROLLUPS.c.sum, ROLLUPS.c.min, ROLLUPS.c.max, ROLLUPS.c.last)
                         .where(ROLLUPS.c.step == prev, ROLLUPS.c.t >= start, ROLLUPS.c.t < end)
                         .order_by(ROLLUPS.c.series_id, ROLLUPS.c.t)).all()
        cols = list(zip(*rows, strict=True)) if rows else [()] * 7
        return bucket(*cols, step_ms)

    def _prune(self, c: Connection, now: float, marks: dict[str, int]) -> int:
        r = self.retention
        deleted = 0
        keeps = [(RAW, r.raw_seconds, r.levels[0][0])] + [
            (str(step), keep, r.levels[i + 1][0] if i + 1 < len(r.levels) else step)
            for i, (step, keep) in enumerate(r.levels)]
        for i, (level, keep, align) in enumerate(keeps):
            cutoff = _ms(now - keep) // (align * 1000) * (align * 1000)
            if i + 1 < len(keeps):  # never drop what the next level has not rolled yet
                cutoff = min(cutoff, marks.get(f"rolled:{r.levels[i][0]}", 0))
            if cutoff <= marks.get(f"from:{level}", 0):
                continue
            table = POINTS if level == RAW else ROLLUPS
            where = table.c.t < cutoff
            if level != RAW:
                where = and_(where, ROLLUPS.c.step == int(level))
            deleted += c.execute(delete(table).where(where)).rowcount or 0
            marks[f"from:{level}"] = cutoff
            self._mark(c, f"from:{level}", cutoff)
        return deleted

    def _mark(self, c: Connection, key: str, value: int) -> None:
        if c.execute(select(MARKS.c.key).where(MARKS.c.key == key)).first():
            c.execute(MARKS.update().where(MARKS.c.key == key).values(value=value))
        else:
            c.execute(insert(MARKS).values(key=key, value=value))

    # -- reads -------------------------------------------------------------------------------

    def series(self, name: str | None = None, *, tags: Mapping[str, str] | None = None,
               namespaces: frozenset[str] | None = None) -> list[Series]:
        """The series of `name` (all names when None) carrying every tag in `tags`; with
        `namespaces`, only those in one of them or in none (node series)."""
        tags = dict(tags or {})
        q = select(SERIES.c.id, SERIES.c.name, SERIES.c.tags)
        if name is not None:
            q = q.where(SERIES.c.name == name)
        for tag in GROUP_TAGS:
            if tag in tags:
                q = q.where(SERIES.c[tag] == tags[tag])
        if namespaces is not None:
            q = q.where(or_(SERIES.c.namespace.is_(None),
                            SERIES.c.namespace.in_(sorted(namespaces))))
        with self.engine.connect() as c:
            found = [Series(i, n, json.loads(t)) for i, n, t in c.execute(q.order_by(SERIES.c.id))]
        return [s for s in found if all(s.tags.get(k) == v for k, v in tags.items())]

    def names(self, namespaces: frozenset[str] | None = None) -> list[str]:
        return sorted({s.name for s in self.series(namespaces=namespaces)})

    def aggregate(self, name: str, *, tags: dict[str, str], start: float, end: float,
                  agg: str) -> float | None:
        """One number: `agg` (mean|max|min|sum|last) over every sample of every series of
        `name` carrying `tags`, in [start, end). None when there is no sample."""
        found = self.query(name, tags=tags, start=start, end=end, agg=agg)
        return found[0]["value"] if found else None

    def query(self, name: str, *, tags: Mapping[str, str] | None = None, start: float,
              end: float, agg: str = "mean", group_by: str | None = None,
              step: float | None = None, namespaces: frozenset[str] | None = None
              ) -> list[dict]:
        """`agg` of the samples in [start, end) per value of the `group_by` tag (one group
        without it), as `{"group": {tag: value}, "value": v}`, or with `step` (seconds)
        as `{"group", "points": [[bucket start, v], ...]}`. Rollups count by their bucket
        start, so a window's ends are as fine as the level that holds them."""
        if agg not in AGGREGATIONS:
            raise ValueError(f"agg must be one of {', '.join(AGGREGATIONS)}")
        if group_by is not None and group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
        series = self.series(name, tags=tags, namespaces=namespaces)
        if not series:
            return []
        group_of = {s.id: s.tags.get(group_by) if group_by else None for s in series}
        a, b = _ms(start), _ms(end)
        step_ms = _ms(step) if step else None
        accs: dict[tuple, _Acc] = {}
        for sid, bucket_no, count, total, low, high, last_t, last in self._summaries(
                list(group_of), a, b, step_ms, agg == "last"):
            key = (group_of[sid], bucket_no)
            accs.setdefault(key, _Acc()).add(count, total, low, high, last_t, last)
        groups: dict[object, list] = {}
        for (group, bucket_no), acc in sorted(accs.items(), key=lambda kv: (
                str(kv[0][0]), kv[0][1])):
            groups.setdefault(group, []).append((bucket_no, acc.value(agg)))
        out = []
        for group, values in groups.items():
            label = {group_by: group} if group_by else {}
            if step_ms:
                out.append({"group": label, "points": [
                    [(a + n * step_ms) / 1000, v] for n, v in values]})
            else:
                out.append({"group": label, "value": values[0][1]})
        return out

    def _plan(self, c: Connection, a: int, b: int, step_ms: int | None
              ) -> list[tuple[str, int, int]]:
        """Which level answers which part of [a, b): (level, from, to). Whole buckets of
        the coarsest level that holds them (no coarser than `step`), the edges from finer
        ones, raw points only where nothing is rolled up yet: a day's query reads about a
        hundred rows a series, not thousands."""
        marks = dict(c.execute(select(MARKS.c.key, MARKS.c.value)).all())
        levels = [(str(s), s * 1000) for s, _ in reversed(self.retention.levels)
                  if step_ms is None or s * 1000 <= step_ms]
        parts: list[tuple[str, int, int]] = []

        def cover(lo: int, hi: int, finer: list[tuple[str, int]]) -> None:
            if lo >= hi:
                return
            if not finer:
                lo = max(lo, marks.get(f"from:{RAW}", 0))
                if lo < hi:
                    parts.append((RAW, lo, hi))
                return
            (level, size), rest = finer[0], finer[1:]
            rolled = marks.get(f"rolled:{level}")
            x = -(-max(lo, marks.get(f"from:{level}", 0)) // size) * size
            y = min(hi, rolled if rolled is not None else lo) // size * size
            if x >= y:
                cover(lo, hi, rest)
                return
            cover(lo, x, rest)
            parts.append((level, x, y))
            cover(y, hi, rest)

        cover(a, b, levels)
        return parts

    def _summaries(self, ids: list[int], a: int, b: int, step_ms: int | None,
                   want_last: bool):
        """(series, bucket number, count, sum, min, max, last time, last value) per series
        and bucket, from every level's part of the window."""
        with self.engine.connect() as c:
            for level, lo, hi in self._plan(c, a, b, step_ms):
                for i in range(0, len(ids), MAX_IDS):  # within any driver's bind limit
                    yield from self._part(c, ids[i:i + MAX_IDS], level, lo, hi, a, step_ms,
                                          want_last)

    def _part(self, c: Connection, ids: list[int], level: str, lo: int, hi: int, a: int,
              step_ms: int | None, want_last: bool):
        if level == RAW:
            tab, cnt, tot = POINTS, func.count(), func.sum(POINTS.c.value)
            low, high, lastcol = (func.min(POINTS.c.value), func.max(POINTS.c.value),
                                  POINTS.c.value)
            extra = []
        else:
            tab, cnt, tot = ROLLUPS, func.sum(ROLLUPS.c.count), func.sum(ROLLUPS.c.sum)
            low, high, lastcol = func.min(ROLLUPS.c.min), func.max(ROLLUPS.c.max), ROLLUPS.c.last
            extra = [ROLLUPS.c.step == int(level)]
        where = [tab.c.series_id.in_(ids), tab.c.t >= lo, tab.c.t < hi, *extra]
        keys = [tab.c.series_id]
        if step_ms:
            keys.append(((tab.c.t - a) // step_ms).label("b"))
        q = select(*keys, cnt, tot, low, high, func.max(tab.c.t).label("last_t")) \
            .where(*where).group_by(*keys)
        lasts = {}
        if want_last:
            newest = q.subquery()
            j = select(tab.c.series_id, tab.c.t, lastcol).join(newest, and_(
                tab.c.series_id == newest.c.series_id,
                tab.c.t == newest.c.last_t)).where(*extra)
            lasts = {(s, t): v for s, t, v in c.execute(j)}
        for row in c.execute(q):
            sid = row[0]
            n = row[1] if step_ms else 0
            count, total, mn, mx, last_t = row[-5:]
            yield (sid, n, count, total, mn, mx, last_t,
                   lasts.get((sid, last_t)) if want_last else None)

    def latest(self, since: float) -> list[tuple[Series, float, float]]:
        """Each series' newest raw sample at or after `since`: (series, time, value)."""
        newest = select(POINTS.c.series_id, func.max(POINTS.c.t).label("t")).where(
            POINTS.c.t >= _ms(since)).group_by(POINTS.c.series_id).subquery()
        q = select(SERIES.c.id, SERIES.c.name, SERIES.c.tags, POINTS.c.t, POINTS.c.value) \
            .join(newest, newest.c.series_id == SERIES.c.id) \
            .join(POINTS, and_(POINTS.c.series_id == newest.c.series_id,
                               POINTS.c.t == newest.c.t)).order_by(SERIES.c.id)
        with self.engine.connect() as c:
            return [(Series(i, n, json.loads(tags)), t / 1000, v)
                    for i, n, tags, t, v in c.execute(q)]

    def rusage(self, *, start: float, end: float, group_by: str = "namespace",
               namespaces: frozenset[str] | None = None) -> list[dict]:
        """Task usage in [start, end) per job or namespace: cpu-seconds and MiB-hours, each
        sample standing for `sample_seconds` of use (the agents' meter period)."""
        if group_by not in ("job", "namespace"):
            raise ValueError("group_by must be job or namespace")
        period = self.retention.sample_seconds
        usage: dict[str, dict[str, float]] = {}
        for metric, unit, scale in (("cpu", "cpu_seconds", period),
                                    ("mem", "mem_mib_hours", period / 3600)):
            for row in self.query(metric, start=start, end=end, agg="sum", group_by=group_by,
                                  namespaces=namespaces):
                group = row["group"][group_by]
                if group is None:
                    continue
                usage.setdefault(group, {"cpu_seconds": 0.0, "mem_mib_hours": 0.0})
                usage[group][unit] = round(row["value"] * scale, 3)
        return [{group_by: g, **u} for g, u in sorted(usage.items())]

    def size(self) -> dict[str, int]:
        """Rows per table (for the benchmark and `GET /v1/metrics/stats`)."""
        with self.engine.connect() as c:
            return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (SERIES, POINTS, ROLLUPS)}
