"""Text from the data made safe to print on a terminal: the characters a terminal would act on
instead of showing are shown as escapes.

A name, a quarantined line or a reason holds whatever the delivery held. Printed as it is, an ESC
(`\\x1b[31m`) would recolour or rewrite the user's terminal, and a right-to-left override
(U+202E) would reorder the text around it. The CLI prints every such text through `visible`
(`visible_json` for --json), so the user sees `\\x1b[31m` and `\\u202e` instead.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls (a terminal acts on each: ESC starts a sequence, CSI U+009B is
# one on its own, CR and BS move the cursor back over what was printed, a newline breaks a table's
# row); the bidi embeddings, overrides and isolates, which reorder what follows them on the line
# (CVE-2021-42574, "Trojan Source"); and the line and paragraph separators, which some terminals
# break lines at.
_HIDDEN = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
    *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
    0x2028,
    0x2029,
]
_AS_PYTHON = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _HIDDEN}
# In a JSON document a newline outside a string is layout; json.dumps escapes every one inside.
_AS_JSON = {c: f"\\u{c:04x}" for c in _HIDDEN if c != 0x0A}


def visible(text: str) -> str:
    """`text` with each character a terminal would act on written as its escape (`\\x1b`, `\\u202e`)."""
    return text.translate(_AS_PYTHON)


def visible_json(document: str) -> str:
    """A JSON document (ensure_ascii off) with those characters escaped as JSON escapes (`\\u001b`,
    `\\u202e`): it holds the same data, and a terminal shows it without acting on any of it."""
    return document.translate(_AS_JSON)
