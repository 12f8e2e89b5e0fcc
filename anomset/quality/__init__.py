"""Quality filters: scores that decide whether a synthetic candidate is kept (``QUALITY_FILTERS``)."""

from anomset.quality import visibility  # noqa: F401  (registers the built-in filters)
