"""emon: electronic-monitoring and protection-order enforcement engine."""

__version__ = "0.1.0"
