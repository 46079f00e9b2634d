"""The Charmander framework: pending queue, placement against offers, SLA upkeep, reshuffle.

The decision logic (events, commands, scheduler) is sans-I/O; `framework.driver` (with
`framework.driver.mesos_client`, `framework.driver.store_writer` and `framework.store`) is the process
that carries it out.
"""
