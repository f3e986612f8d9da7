"""The study pipeline: cached, resumable stages and the executors of the analyses."""

from .cache import Cache, stage_key
from .stages import run_study
from .tasks import Task, run_task

__all__ = ["Cache", "Task", "run_study", "run_task", "stage_key"]
