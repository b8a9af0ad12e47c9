"""The operator console: static files served by emon serve."""
