"""The report: presentation only. Figures (one registry), the HTML page and the writing of
tables; every number shown comes from the tables handed in."""

from .figures import FIGURES, Figure, draw_figures
from .writing import REPORT_MARKER, is_ours, write_report, write_tables

__all__ = ["FIGURES", "REPORT_MARKER", "Figure", "draw_figures", "is_ours", "write_report",
           "write_tables"]
