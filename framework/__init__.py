"""The Charmander framework: pending queue, placement against offers, SLA upkeep, reshuffle.

The decision logic (events, commands, scheduler) is sans-I/O; `framework.driver` (with
the pieces in `framework.process` and `framework.store`) is the process that carries it
out.
"""
