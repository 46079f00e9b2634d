"""berth's images: what was built from an image template or pulled from upstream into its
registry, and how that went (`building` -> `ready` or `failed`, the build log kept), in the
framework's database (migration f0007) so the list and the logs survive a restart.

`ImageBook` is the in-memory view the driver and the job checks read (pure); `ImageStore`
its table (blocking: the driver calls it on a worker thread; a write the database cannot
take raises StoreUnavailable and changed nothing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import BigInteger, Float, String, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from framework.models import Base
from framework.store import StoreUnavailable
from offers.image_template import image_key
from offers.problems import FieldProblem

LOG_LINES_ON_REFUSAL = 10
MAX_LOG = 1024 * 1024  # characters of build log kept (its end)
RESTARTED = "the framework restarted while the image was being built; upload it again"


class ImageState(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ImageRecord:
    name: str  # path:tag
    state: ImageState
    origin: str  # "template" or "pull"
    created_at: float
    updated_at: float
    size: int | None = None
    reason: str | None = None
    log: str = ""

    def last_lines(self, count: int = LOG_LINES_ON_REFUSAL) -> str:
        return "\n".join(self.log.rstrip("\n").splitlines()[-count:])


class ImageRow(Base):
    __tablename__ = "framework_images"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    log: Mapped[str] = mapped_column(Text)


class ImageBook:
    """The images berth keeps, by name; what a job's images are held or refused for."""

    def __init__(self, registry: str | None = None) -> None:
        self.registry = registry
        self._images: dict[str, ImageRecord] = {}

    def load(self, records: list[ImageRecord]) -> None:
        self._images = {r.name: r for r in records}

    def put(self, record: ImageRecord) -> None:
        self._images[record.name] = record

    def remove(self, name: str) -> None:
        self._images.pop(name, None)

    def get(self, name: str) -> ImageRecord | None:
        return self._images.get(name)

    def all(self) -> list[ImageRecord]:
        return sorted(self._images.values(), key=lambda r: (r.created_at, r.name))

    def lookup(self, reference: str) -> ImageRecord | None:
        """The image a task's `image` names, if berth keeps it."""
        return self._images.get(image_key(reference, self.registry))

    def building(self) -> frozenset[str]:
        return frozenset(n for n, r in self._images.items() if r.state is ImageState.BUILDING)

    def refusals(self, images: list[tuple[str, str]]) -> list[FieldProblem]:
        """For (field, image) pairs of a submission: each image whose build failed, with
        the build log's last lines."""
        problems = []
        for field, reference in images:
            record = self.lookup(reference)
            if record is not None and record.state is ImageState.FAILED:
                problems.append(FieldProblem(field, (
                    f"image {record.name} failed to build ({record.reason}); the build "
                    f"log ends:\n{record.last_lines()}")))
        return problems


class ImageStore:
    """Reads and writes of images on the framework's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> list[ImageRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ImageRow)).all()
        return [ImageRecord(r.name, ImageState(r.state), r.origin, r.created_at,
                            r.updated_at, r.size, r.reason, r.log) for r in rows]

    def save(self, record: ImageRecord) -> None:
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        values["state"] = record.state.value
        values["log"] = record.log[-MAX_LOG:]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(ImageRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[ImageRow.name],
            set_={k: v for k, v in values.items() if k != "name"})
        self._write(statement)

    def delete(self, name: str) -> None:
        self._write(delete(ImageRow).where(ImageRow.name == name))

    def _write(self, statement) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except OperationalError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreUnavailable(reason) from exc
