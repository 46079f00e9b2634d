"""The offline simulator: the framework's own policy code and the `offers/` placement core,
driven by a virtual clock against simulated agents and a simulated master.

Nothing here does I/O except `report` (which writes the report directory).
"""
