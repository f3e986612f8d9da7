"""prunedistill: intrinsic dimension and single-unit information along visual hierarchies."""

__version__ = "0.1.0"
