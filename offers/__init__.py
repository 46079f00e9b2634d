"""Resources, offers, task specs, SLAs and the numpy placement core.

Pure: no I/O, no asyncio, no clock. Everything here is safe to call from the framework,
the master, the simulator and `berth place` alike.
"""
