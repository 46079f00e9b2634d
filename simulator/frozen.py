"""Frozen dataclass records built without their generated `__init__`.

A run hands the master and the framework hundreds of thousands of their own records
(statuses, acknowledgements, capacity reports, resources), and a frozen dataclass's
`__init__` sets each field through `object.__setattr__`, a call per field: that was a good
part of what the simulated agents and the wiring cost. `maker(cls)` is a function of all
the fields in order that writes them into a new instance's `__dict__` instead, as
`master.records.new_offer` does for offers; the record is the same (equal, same repr and
hash). Like `dataclasses` itself, it is generated from the field names. A class that
cannot be built that way (slots, `__post_init__`, a field left out of `__init__`, not a
frozen dataclass) gets `cls` itself, which takes the same arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_LOCALS = frozenset({"_new", "_cls", "_record", "_fields"})


def maker(cls: type[T]) -> Callable[..., T]:
    """`cls(*values)`, every field given in order, without the per-field setattr calls."""
    params = getattr(cls, "__dataclass_params__", None)
    if (params is None or not params.frozen or not params.init or "__slots__" in vars(cls)
            or hasattr(cls, "__post_init__")):
        return cls
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    if any(not f.init for f in fields) or _LOCALS.intersection(names):
        return cls
    body = "".join(f"    _fields[{name!r}] = {name}\n" for name in names)
    source = (f"def make({', '.join(names)}):\n"
              f"    _record = _new(_cls)\n"
              f"    _fields = _record.__dict__\n{body}"
              f"    return _record\n")
    scope = {"_new": object.__new__, "_cls": cls}
    exec(source, scope)  # only a dataclass's own field names go into it
    make = scope["make"]
    make.__qualname__ = make.__name__ = f"make_{cls.__name__}"
    make.__doc__ = f"A {cls.__name__} of all its fields in order: {', '.join(names)}."
    return make
