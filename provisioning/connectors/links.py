"""Web Linking (RFC 8288) `Link` header parsing: every header, every value, any order.

A response may carry several `Link` headers, or one header whose values are joined by commas,
and the relations (`rel="self"`, `rel="next"`) may come in any order. A URL between `<` and `>`
may itself contain commas and semicolons, and a quoted parameter value may too, so values are
split by a small scanner rather than by `str.split(",")`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Link:
    target: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def relations(self) -> set[str]:
        """`rel` holds one or more space-separated relation types, compared case-insensitively."""
        return {token.lower() for token in self.params.get("rel", "").split()}


class LinkHeaderError(ValueError):
    """A `Link` header value that is not RFC 8288 syntax."""


def parse_link_values(values: Iterable[str]) -> list[Link]:
    """Every link in every given `Link` header value, in order."""
    links: list[Link] = []
    for value in values:
        links.extend(_parse_one(value))
    return links


def next_target(values: Iterable[str]) -> str | None:
    """The target of the (single) `rel="next"` link among all values, or None when there is none.

    Two different next targets make the paging ambiguous: that is an error, never a guess.
    """
    targets = {link.target for link in parse_link_values(values) if "next" in link.relations}
    if len(targets) > 1:
        raise LinkHeaderError(f"more than one rel=next link: {sorted(targets)}")
    return next(iter(targets), None)


def _parse_one(text: str) -> list[Link]:
    links: list[Link] = []
    pos, size = 0, len(text)
    while True:
        pos = _skip(text, pos, " \t,")
        if pos >= size:
            return links
        if text[pos] != "<":
            raise LinkHeaderError(f"expected '<' at {pos} in {text!r}")
        end = text.find(">", pos)
        if end < 0:
            raise LinkHeaderError(f"unclosed '<' in {text!r}")
        target = text[pos + 1 : end].strip()
        params, pos = _parse_params(text, end + 1)
        links.append(Link(target, params))


def _parse_params(text: str, pos: int) -> tuple[dict[str, str], int]:
    """`; name=value` or `; name="quoted, value"` pairs up to the next top-level comma."""
    params: dict[str, str] = {}
    size = len(text)
    while True:
        pos = _skip(text, pos, " \t")
        if pos >= size or text[pos] == ",":
            return params, pos
        if text[pos] != ";":
            raise LinkHeaderError(f"expected ';' or ',' at {pos} in {text!r}")
        pos = _skip(text, pos + 1, " \t")
        start = pos
        while pos < size and text[pos] not in "=;, \t":
            pos += 1
        name = text[start:pos].lower()
        pos = _skip(text, pos, " \t")
        value = ""
        if pos < size and text[pos] == "=":
            value, pos = _parse_value(text, _skip(text, pos + 1, " \t"))
        if name:
            params.setdefault(name, value)  # RFC 8288: only the first occurrence of a parameter counts


def _parse_value(text: str, pos: int) -> tuple[str, int]:
    size = len(text)
    if pos < size and text[pos] == '"':
        chars: list[str] = []
        pos += 1
        while pos < size and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < size:
                pos += 1
            chars.append(text[pos])
            pos += 1
        if pos >= size:
            raise LinkHeaderError(f"unclosed quoted value in {text!r}")
        return "".join(chars), pos + 1
    start = pos
    while pos < size and text[pos] not in ";,":
        pos += 1
    return text[start:pos].strip(), pos


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos
