"""The study pipeline, the only orchestrator: cached, resumable stages, the executors of the
analyses, the recordings and the report stage."""

from .cache import Cache, Entry, StageMissing, stage_key
from .in_memory import analyse
from .stages import run_study
from .tasks import Task, read_tables, run_task

__all__ = ["Cache", "Entry", "StageMissing", "Task", "analyse", "read_tables", "run_study",
           "run_task", "stage_key"]
