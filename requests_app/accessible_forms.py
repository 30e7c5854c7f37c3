"""The form base of every page, public or staff: errors tied to their fields for screen readers."""

from __future__ import annotations


class AccessibleFormMixin:
    """Ties each error message to its field (aria-describedby) and marks the field invalid."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            described = [f"{bound.auto_id}_errors"]
            if bound.help_text:
                described.append(f"{bound.auto_id}_helptext")
            attrs = self.fields[name].widget.attrs
            attrs["aria-describedby"] = " ".join(described)
            attrs["aria-invalid"] = "true"
