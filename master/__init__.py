"""The master: agent registry, allocator, offer book, task registry, status fan-out.

`master.core.Master` is sans-I/O: events in (`master.events`), commands out
(`master.commands`), time from an injected clock. `master.store` persists what the core
decides; `master.driver` carries the commands out (persist, then send) and
`api.master_app` turns HTTP and the agent link into events for it.
"""
