"""The Mesos reason codes the master puts on the status updates it writes itself.

Kept in one place because several parts of the master (agents, offers, updates) write
them, and a framework branches on their exact spelling.
"""

from __future__ import annotations

from offers.protocol.mesos import REASON_HEALTH_UPDATED
from offers.states import TaskState

REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
REASON_TASK_INVALID = "REASON_TASK_INVALID"
REASON_RECONCILIATION = "REASON_RECONCILIATION"
REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = REASON_HEALTH_UPDATED

# What Mesos would say when an executor reports a terminal state without a reason.
DEFAULT_REASON = {
    TaskState.ERROR: "REASON_CONTAINER_LAUNCH_FAILED",
    TaskState.FAILED: "REASON_COMMAND_EXECUTOR_FAILED",
    TaskState.KILLED: "REASON_TASK_KILLED",
}
