"""Quality filters: scores that decide whether a synthetic candidate is kept (``QUALITY_FILTERS``).

Importing this package stays cheap: ``ars`` imports torch and transformers only when it fits.
"""

from anomset.quality import ars, visibility  # noqa: F401  (registers the built-in filters)
