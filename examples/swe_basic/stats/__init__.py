"""Small descriptive-statistics helpers."""

from .summary import mean, median, percentile, summarize

__all__ = ["mean", "median", "percentile", "summarize"]
