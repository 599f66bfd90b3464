"""Reports from run folders on disk: the tidy run table, the study's tables beside its numbers,
a generic pivot, and figures. ``python -m vidpred.report PATH... --out DIR``."""

from vidpred.report.build import Report, build_report
from vidpred.report.collect import RunRecord, collect, tidy_frame

__all__ = ["Report", "RunRecord", "build_report", "collect", "tidy_frame"]
