"""How text from outside (a batt, a data file, a results file) is shown: visible, as data, never as control.

A solver id, an exception message, what a batt prints or a task id from a Kaggle file may hold
ESC, BEL or other control characters; written raw, they retitle a terminal window, clear the
screen or hide lines in a CI log, and make junit XML ill-formed. Every output built here
(terminal lines, failure texts, junit, the HTML report, the CLI) passes such text through
:func:`text` (or :func:`line` for one-line fields); node ids take :func:`ascii_id`, the form
pytest gives its own parametrize ids. The results file keeps the raw strings: it is data.
"""

from __future__ import annotations

import re
import unicodedata

# Kept in multi-line text: the line structure of a traceback or of captured output.
_KEPT = frozenset("\n\t")
# Unicode categories shown escaped: controls (C0, DEL, C1: ESC, BEL, CSI U+009B, ...), format
# characters (bidi overrides that reorder what is shown, zero-width characters), line and
# paragraph separators (they end a line in some viewers) and lone surrogates (they cannot be
# encoded: writing one would raise).
_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))
_ASCII = re.compile(r"[\x00-\x1f\x7f]")  # the same rule, for ASCII text
_ASCII_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN


def text(value: object, keep_lines: bool = True) -> str:
    """``value`` as a string with every control or invisible character written as a visible escape
    (ESC as ``\\x1b``, BEL as ``\\x07``); newlines and tabs are kept unless ``keep_lines`` is false.

    Idempotent: its output holds no character it would escape, so text shown twice reads the same.
    """
    s = value if isinstance(value, str) else str(value)
    if s.isascii():  # the common case, at C speed
        return (_ASCII_KEEP_LINES if keep_lines else _ASCII).sub(lambda m: _escape(m.group()), s)
    return "".join(_escape(ch) if _hidden(ch) and not (keep_lines and ch in _KEPT) else ch for ch in s)


def line(value: object) -> str:
    """One-line fields (an id, a name): newlines and tabs escaped too, so one field cannot start a line."""
    return text(value, keep_lines=False)


def a_type(value: object) -> str:
    """``value``'s type with its article, "an int", "a list": how a message names what it was given
    (the article by the name's first letter, so "an int" and "an object", never "a int")."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {name}"


def ascii_id(value: str) -> str:
    """The form of a task id inside a node id, as pytest writes parametrize ids: printable ASCII
    as it is, a backslash doubled, ``\\t``, ``\\n``, ``\\r``, and every other character as
    ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``. It can be typed after ``-k`` or ``--deselect``, and
    it is reversible (:func:`from_ascii_id`), so two task ids never share a node id.

    Beyond pytest's rule, brackets are escaped too (``\\x5b``, ``\\x5d``): a node id then has one
    parameter bracket, its sample's, and readers that split node ids at the first ``[`` (pytest
    8's junit class names) split it where pytest-batt put it."""
    if value.isascii() and value.isprintable() and not _STRUCTURE.intersection(value):  # every real ARC id
        return value
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in _STRUCTURE:
            out.append(_escape(ch))
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        else:
            out.append(_escape(ch))
    return "".join(out)


_STRUCTURE = frozenset("\\[]")  # the backslash: the escape itself; brackets: a node id's parameters
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSHORT = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
_WIDTH = {"x": 2, "u": 4, "U": 8}


def from_ascii_id(value: str) -> str:
    """The task id :func:`ascii_id` made ``value`` from (ValueError when no task id gives it)."""
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = value[i + 1: i + 2]
        if kind in _UNSHORT:
            out.append(_UNSHORT[kind])
            i += 2
        elif kind in _WIDTH:
            digits = value[i + 2: i + 2 + _WIDTH[kind]]
            if len(digits) != _WIDTH[kind] or not all(c in "0123456789abcdef" for c in digits):
                raise ValueError(f"not an escaped id: {value!r}")
            out.append(chr(int(digits, 16)))
            i += 2 + _WIDTH[kind]
        else:
            raise ValueError(f"not an escaped id: {value!r}")
    return "".join(out)
