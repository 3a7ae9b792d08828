"""Chengzhi (城治): a platform for city governance."""

__version__ = "0.1.0"
