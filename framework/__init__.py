"""The Charmander framework: pending queue, placement against offers, SLA upkeep, reshuffle.

The decision logic (events, commands, scheduler) is sans-I/O; `framework.mesos_client`,
`framework.store` and `framework.service` are the adapters that carry it out.
"""
