"""`critic analyze`: the analysis record and the job that fills it (see critic/__init__.py)."""
