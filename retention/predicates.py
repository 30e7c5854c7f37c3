"""SQL predicates over records that the sweeps, erasure, the rights and the forecast share.

A leaf module (it imports nothing of ours), so that services and selectors can both
use it without importing each other.
"""

from __future__ import annotations


def held_sql(*, record: str = "r", now: str = "%(now)s") -> str:
    """SQL that is true when an active legal hold covers the record aliased `record`.

    `now` is the placeholder of the current time in the statement (named by default).
    """
    return f"""EXISTS (
    SELECT 1 FROM retention_legalhold h
     WHERE h.organisation_id = {record}.organisation_id
       AND h.lifted_at IS NULL
       AND (h.ends_at IS NULL OR h.ends_at > {now})
       AND (h.subject_id IS NULL OR h.subject_id = {record}.subject_id)
       AND (h.category_id IS NULL OR h.category_id = {record}.category_id)
)"""  # noqa: S608  (an alias and a placeholder of our own code; values are parameters)


# For statements over records aliased `r` with a `%(now)s` parameter (the sweeps).
HOLD_FILTER = f"NOT {held_sql()}"

# Art. 18-restricted records wait until the restriction is lifted (issue 12, section 3).
ART18_FILTER = """
r.restriction_ground NOT LIKE 'art18%%' AND cardinality(r.restriction_references) = 0
"""
