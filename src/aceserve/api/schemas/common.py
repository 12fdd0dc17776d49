"""Constants shared by the schema modules."""

from __future__ import annotations

REF_TEMPLATE = "#/components/schemas/{model}"
NON_BLANK = r"\S"
UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
UNSET_TIME = "0001-01-01T00:00:00Z"
