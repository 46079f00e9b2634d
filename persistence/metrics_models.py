"""The metrics tables, laid out for volume: a series is named once (integer id, its tags
in columns and as canonical JSON), and a sample is a compact row with no rowid, so a month
of a hundred nodes stays small.

Raw points are keyed by (time in ms, series): samples arrive for every series at once and
in time order, so a batch is appended at the end of the table (a key of (series, time)
would rewrite a page per series per batch), compaction reads a time range of every series
in key order, and pruning cuts the front. They are read only for what is not rolled up
yet (the last minute or so). Rollups, read by series over long ranges, are keyed by
(series, step, bucket start).

Downsampled rows keep count, sum, min, max and the last value of each bucket, so a mean
over rollups is the mean over the raw samples they came from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

# The tags every series may be grouped or filtered by; they get their own columns.
GROUP_TAGS = ("node", "job", "instance", "namespace")

SERIES = Table(
    "metric_series", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("tags", String(2000), nullable=False),  # canonical JSON of all its tags
    *(Column(tag, String(256), nullable=True) for tag in GROUP_TAGS),
    UniqueConstraint("name", "tags", name="uq_metric_series_name_tags"),
)
POINTS = Table(
    "metric_points", metadata,
    Column("series_id", Integer, nullable=False),
    Column("t", BigInteger, nullable=False),  # milliseconds since the epoch
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("t", "series_id", name="pk_metric_points"),
    sqlite_with_rowid=False,
)
ROLLUPS = Table(
    "metric_rollups", metadata,
    Column("series_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),  # bucket width in seconds
    Column("t", BigInteger, nullable=False),  # bucket start, milliseconds
    Column("count", Integer, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("last", Float, nullable=False),
    PrimaryKeyConstraint("series_id", "step", "t", name="pk_metric_rollups"),
    sqlite_with_rowid=False,
)
MARKS = Table(
    "metric_marks", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),  # milliseconds
)
