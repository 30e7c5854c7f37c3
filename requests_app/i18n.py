"""A small, dependency-free reader of .po files and writer of .mo files.

A fresh machine has no GNU gettext (`msgfmt`), but `make run` must show
Swedish: the compiled `locale/*/LC_MESSAGES/django.mo` is committed, and
`manage.py compile_translations` rebuilds it from the `.po` with this module.
The output is deterministic, so a test can check that the committed `.mo`
matches the `.po`.
"""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False
    obsolete: bool = False

    @property
    def translated(self) -> bool:
        if self.fuzzy:
            return False
        if self.msgid_plural is not None:
            return bool(self.msgstr_plural) and all(self.msgstr_plural.values())
        return bool(self.msgstr)


def _unquote(text: str) -> str:
    return ast.literal_eval(text)  # a C-style "..." string; Python's rules are the same here


def po_parse(path: Path) -> list[Entry]:
    """Every entry of a .po file, the header (msgid "") first."""
    entries: list[Entry] = []
    current = Entry()
    target: tuple[str, int | None] | None = None
    started = False

    def finish():
        nonlocal current, started, target
        if started:
            entries.append(current)
        current, started, target = Entry(), False, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            current.obsolete = True
            continue
        if line.startswith("#,"):
            current.fuzzy = "fuzzy" in line
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            name, index = target
            value = _unquote(line)
            if name == "msgstr_plural":
                current.msgstr_plural[index] += value
            else:
                setattr(current, name, getattr(current, name) + value)
            continue
        keyword, _sep, rest = line.partition(" ")
        started = True
        if keyword.startswith("msgstr["):
            index = int(keyword[7:-1])
            current.msgstr_plural[index] = _unquote(rest)
            target = ("msgstr_plural", index)
        elif keyword in {"msgid", "msgid_plural", "msgctxt", "msgstr"}:
            setattr(current, keyword, _unquote(rest))
            target = (keyword, None)
        else:
            raise ValueError(f"{path}: cannot read line {raw!r}")
    finish()
    return [e for e in entries if not e.obsolete]


def mo_bytes(entries: list[Entry]) -> bytes:
    """The GNU .mo encoding of the translated entries (and the header), sorted by key."""
    catalog: dict[bytes, bytes] = {}
    for entry in entries:
        if entry.msgid and not entry.translated:
            continue
        key = entry.msgid
        if entry.msgctxt is not None:
            key = f"{entry.msgctxt}\x04{key}"
        if entry.msgid_plural is not None:
            key = f"{key}\x00{entry.msgid_plural}"
            value = "\x00".join(entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural))
        else:
            value = entry.msgstr
        catalog[key.encode("utf-8")] = value.encode("utf-8")
    keys = sorted(catalog)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        offsets.append((len(ids), len(key), len(strs), len(catalog[key])))
        ids += key + b"\x00"
        strs += catalog[key] + b"\x00"
    count = len(keys)
    header_size = 7 * 4
    key_table = header_size
    value_table = key_table + count * 8
    ids_start = value_table + count * 8
    strs_start = ids_start + len(ids)
    key_entries = b"".join(
        struct.pack("<2I", length, ids_start + start) for start, length, _, _ in offsets
    )
    value_entries = b"".join(
        struct.pack("<2I", length, strs_start + start) for _, _, start, length in offsets
    )
    header = struct.pack("<7I", 0x950412DE, 0, count, key_table, value_table, 0, 0)
    return header + key_entries + value_entries + ids + strs


def compile_po(po_path: Path) -> Path:
    mo_path = po_path.with_suffix(".mo")
    mo_path.write_bytes(mo_bytes(po_parse(po_path)))
    return mo_path
