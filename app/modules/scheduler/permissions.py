"""Permission codes of the scheduler module."""

from app.core.access import registry

JOB_LIST = registry.declare("scheduler:job:list", "List scheduled jobs and job targets")
JOB_READ = registry.declare("scheduler:job:read", "View a scheduled job")
JOB_CREATE = registry.declare("scheduler:job:create", "Create a scheduled job")
JOB_UPDATE = registry.declare("scheduler:job:update", "Edit a scheduled job")
JOB_DELETE = registry.declare("scheduler:job:delete", "Delete a scheduled job")
JOB_PAUSE = registry.declare("scheduler:job:pause", "Pause or resume a scheduled job")
JOB_RUN = registry.declare("scheduler:job:run", "Run a job now")
RUN_LIST = registry.declare("scheduler:run:list", "List job runs")
RUN_READ = registry.declare("scheduler:run:read", "View a job run")
