"""The framework process's pieces of I/O, run by its driver (`framework.driver`): the
scheduler-API client (`mesos_client`), the store's writer (`store_writer`), the job
requests (`job_operations`), Jisto's job requests over them (`jisto_operations`), the
scheduled jobs fired from the tick (`schedule_runner`), JuliaRun's configuration file
(`juliarun_settings`) and the master's log stream (`master_logs`). Time, ids and waits
come from the driver; none of them reads a clock of its own.
"""
