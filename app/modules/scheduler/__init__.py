"""Scheduler module: jobs that run registered targets on a cron, interval or date trigger,
exactly once across processes, with a run history (`/api/v1/scheduler`). See docs/scheduler.md.
"""

from app.core.modules import ModuleSpec
from app.modules.scheduler.bootstrap import load_initial_data
from app.modules.scheduler.lifespan import scheduler_lifespan
from app.modules.scheduler.router import router
from app.modules.scheduler.settings import SchedulerSettings

module = ModuleSpec(
    name="scheduler",
    routers=[router],
    models=["app.modules.scheduler.models"],
    initial_data=load_initial_data,
    depends_on=("system",),
    lifespan=scheduler_lifespan,
    jobs="app.modules.scheduler.jobs",
    permissions="app.modules.scheduler.permissions",
    settings=SchedulerSettings,
    # Not security state, but not a cache either: the job queue (a Redis stream and its
    # consumer group); clearing it loses queued runs and stops the workers' reads.
    cache_namespaces={"scheduler": "the job queue: clearing it loses queued runs"},
    menus=[
        {
            "name": "Scheduler",
            "title": "Scheduler",
            "type": "directory",
            "path": "/scheduler",
            "icon": "job",
            "sort": 30,
            "children": [
                {
                    "name": "SchedulerJob",
                    "title": "Jobs",
                    "type": "menu",
                    "path": "/scheduler/jobs",
                    "component": "scheduler/job/index",
                    "icon": "job",
                    "permission": "scheduler:job:list",
                    "sort": 1,
                },
                {
                    "name": "SchedulerJobRun",
                    "title": "Job runs",
                    "type": "menu",
                    "path": "/scheduler/job-runs",
                    "component": "scheduler/run/index",
                    "icon": "log",
                    "permission": "scheduler:run:list",
                    "sort": 2,
                },
            ],
        }
    ],
)
