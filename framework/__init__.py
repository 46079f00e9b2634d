"""The Charmander framework: pending queue, placement against offers, SLA upkeep, reshuffle.

The decision logic (events, commands, scheduler) is sans-I/O; `framework.driver` (with
`framework.mesos_client`, `framework.store_writer` and `framework.store`) is the process
that carries it out.
"""
