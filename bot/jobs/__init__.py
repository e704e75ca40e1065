"""The job engine: queue, submit, follow, deliver; survive restarts.

- engine.py   life and intake: start/stop, each job's owner, the dispatcher's loop, creating jobs
- dispatch.py which queued jobs start now: start order, slot limits, "not before", line notices
- submit.py   sending a job to a provider, failover, finding out about interrupted submits
- follow.py   callbacks, in-process reports and reads; what a provider says about a task
- endings.py  delivering, telling the user about a failure, expiring, cancelling
- context.py  what the engine hands down to the phases, and the one way to move a job

Arrows run one way: the engine calls the phases; a phase never calls another phase, it writes
the job's next state and the engine runs what that state needs. Outside this package, import
only the names below.
"""

from bot.jobs.context import EngineConfig, JobContext, Notifier
from bot.jobs.engine import JobEngine, is_settled, new_job_id
from bot.jobs.follow import ReportsTasks, TaskListener

__all__ = [
    "EngineConfig",
    "JobContext",
    "JobEngine",
    "Notifier",
    "ReportsTasks",
    "TaskListener",
    "is_settled",
    "new_job_id",
]
