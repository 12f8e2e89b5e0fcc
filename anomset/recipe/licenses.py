"""The Hub's licence identifiers for a card's ``license:`` field.

From huggingface.co/docs/hub/repositories-licenses (the table the Hub validates cards against).
``other`` needs a ``license_name`` and a ``license_link`` beside it.
"""

from __future__ import annotations

from anomset.registry import did_you_mean

HUB_LICENSES: tuple[str, ...] = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
    "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd",
    "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5",
    "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0",
    "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0",
    "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0",
    "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl",
    "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0",
    "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license", "llama2",
    "gemma", "unknown", "other",
)


def check_license(value: str) -> str:
    """``value`` if it is a Hub licence identifier; else a ``ValueError`` with close matches."""
    if value in HUB_LICENSES:
        return value
    hint = did_you_mean(value.lower() if isinstance(value, str) else value, list(HUB_LICENSES))
    raise ValueError(f"{value!r} is not a Hub licence identifier; {hint}use one from "
                     "huggingface.co/docs/hub/repositories-licenses, or 'other' with license_name and license_link")
