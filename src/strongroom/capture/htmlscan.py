"""Start tags of an HTML document, found as a browser's tokenizer finds them.

Link extraction needs only the start tags that load or point at something
(and the text of ``<style>`` and ``<title>``), not a tree. ``html.parser``
found them, but its tokenizer is a Python loop over every tag, text run and
character reference: 1-3 ms per news page, a tenth of a capture's CPU time on
the benchmark site, and a lenient parser's guesses where a browser's rules
differ. This scanner follows the WHATWG tokenizer's states for what decides
where a tag starts and ends, with a few compiled expressions:

- ``<!--`` opens a comment closed by ``-->`` or ``--!>`` (``<!-->`` and
  ``<!--->`` close at once); an unterminated comment runs to the end, so a
  browser loads nothing after it, and nor do we;
- ``<!...>``, ``<?...>`` and ``</`` + non-letter are bogus comments to the next ``>``;
- in a tag, a quote opens a value only after ``=``; a ``>`` inside a quoted
  value does not end the tag, and a tag cut off by the end of the document
  (say, an unterminated quote) is dropped, as browsers drop it;
- the content of ``script``, ``style``, ``xmp``, ``iframe``, ``noembed``,
  ``noframes`` (raw text) and ``title``, ``textarea`` (escapable raw text) runs to
  its end tag: an ``<img>`` inside a script string or a textarea loads nothing;
- attribute names are lower-cased and the first of a repeated name wins.

Every expression is atomic or possessive: no input, however hostile (megabyte
attributes, thousands of unclosed quotes), makes matching worse than linear.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# WHATWG whitespace only: U+00A0 and other Unicode spaces are part of names.
_W = "\\t\\n\\f\\r "
# The rest of a tag after its name: attributes, each a name with an optional
# value, up to the closing '>' (or to the end of the text: a tag cut off).
_ATTRS = rf"""(?>
        [{_W}/]++
      | [^{_W}/>][^{_W}/>=]*+
        (?>[{_W}]*+=[{_W}]*+(?>"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z)|[^{_W}>]*+))?
    )*+"""
# One token from a '<': a start tag (name, attributes, '>' or '' when cut off by the
# end), a comment (to its end or the end of the text), an end tag, a bogus comment.
_TOKEN = re.compile(
    rf"""<(?:
        ([A-Za-z][^{_W}/>]*+)({_ATTRS})(>?)
      | !--(?:-?>|(?s:.*?)(?:--!?>|\Z))
      | /[A-Za-z][^{_W}/>]*+{_ATTRS}>?
      | [!?/][^>]*+>?
    )""",
    re.X,
)
_ATTR = re.compile(
    rf"""([^{_W}/>][^{_W}/>=]*+)
    (?:[{_W}]*+=[{_W}]*+(?:"([^"]*+)"?|'([^']*+)'?|([^{_W}>]*+)))?""",
    re.X,
)
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "title", "textarea"}
)
_RAW_END: dict[str, re.Pattern[str]] = {}


def _raw_end(name: str) -> re.Pattern[str]:
    pat = _RAW_END.get(name)
    if pat is None:
        pat = _RAW_END[name] = re.compile(rf"</{name}(?=[{_W}/>])", re.I)
    return pat


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    from html import unescape  # html.entities is a large table: only when needed

    return unescape(value)


def attributes(raw: str) -> dict[str, str]:
    """The attributes of a tag's attribute text: names lower-cased, first one wins,
    character references decoded."""
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        name = m.group(1).lower()
        if name not in out:
            value = m.group(2)
            if value is None:
                value = m.group(3)
                if value is None:
                    value = m.group(4) or ""
            out[name] = _unescape(value)
    return out


def start_tags(text: str, wanted: frozenset[str]) -> Iterator[tuple[str, dict[str, str], str]]:
    """(name, attributes, text content) of every start tag named in ``wanted``, and of
    any other tag with a ``style`` attribute; content is set for raw-text elements
    (``style``, ``title``...), decoded for ``title`` and ``textarea``, else ''."""
    pos, n = 0, len(text)
    while pos < n:
        for m in _TOKEN.finditer(text, pos):
            name = m.group(1)
            if name is None:  # a comment, an end tag, a doctype: nothing loads
                continue
            if not m.group(3):
                return  # the document ends inside the tag: a browser drops it
            name = name.lower()
            raw = m.group(2)
            content = ""
            if name in RAW_TEXT:
                close = _raw_end(name).search(text, m.end())
                stop = close.start() if close is not None else n
                content = text[m.end() : stop]
                if name in ("title", "textarea"):
                    content = _unescape(content)
            if name in wanted:
                yield name, attributes(raw), content
            elif "style" in raw.lower():
                attrs = attributes(raw)
                if "style" in attrs:
                    yield name, attrs, content
            if name in RAW_TEXT:
                pos = stop
                break  # go on after the raw text, where its end tag starts
        else:
            return
