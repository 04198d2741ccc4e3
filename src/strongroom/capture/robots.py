"""robots.txt rules as RFC 9309 defines them, for the crawl.

Why not ``urllib.robotparser``: it applies the first matching rule, not the
longest one (RFC 9309, and every major crawler), ignores ``*`` and ``$`` in
paths, and importing it pulls in ``urllib.request`` and with it ``http.client``,
``email`` and ``ssl``: a tenth of the start-up of a capture that has its own
HTTP client. This parser is small and bounded: the text is cut at 512 KiB
(the RFC's minimum), and matching never compiles a pattern.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

MAX_TEXT = 512 * 1024
_SAFE = "!$&'()*+,/:;=?@~"  # kept as they are; everything else percent-encoded alike


def _norm(path: str) -> str:
    """Percent-encoding made uniform, so ``/a%7Eb`` and ``/a~b`` compare equal."""
    return quote(unquote(path), safe=_SAFE)


def _match(pattern: str, path: str) -> bool:
    """``pattern`` (with ``*`` and a final ``$``) matches the start of ``path``."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    pieces = pattern.split("*")
    if not path.startswith(pieces[0]):
        return False
    pos = len(pieces[0])
    if len(pieces) == 1:
        return not anchored or pos == len(path)
    for piece in pieces[1:-1]:
        i = path.find(piece, pos)
        if i < 0:
            return False
        pos = i + len(piece)
    last = pieces[-1]
    if anchored:
        return path.endswith(last) and len(path) - len(last) >= pos
    return path.find(last, pos) >= 0


# Plain classes with slots, not dataclasses: defining a dataclass costs every
# capture about half a millisecond of start-up.
class _Group:
    __slots__ = ("agents", "rules")

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.rules: list[tuple[str, bool]] = []  # (pattern, allow)


class Robots:
    """The rules of one host's robots.txt; ``can_fetch`` answers for one URL."""

    __slots__ = ("allow_all", "disallow_all", "groups")

    def __init__(
        self,
        *,
        groups: list[_Group] | None = None,
        allow_all: bool = False,
        disallow_all: bool = False,
    ) -> None:
        self.groups = groups if groups is not None else []
        self.allow_all = allow_all
        self.disallow_all = disallow_all

    @classmethod
    def parse(cls, text: str) -> Robots:
        """Rules from robots.txt text; unknown lines and rules outside a group are ignored."""
        groups: list[_Group] = []
        current: _Group | None = None
        in_rules = False
        if len(text) > MAX_TEXT:  # cut at a line end: half a rule is no rule
            text = text[: text.rfind("\n", 0, MAX_TEXT) + 1]
        for raw in text.lstrip("\ufeff").splitlines():
            line = raw.split("#", 1)[0].strip()
            key, sep, value = line.partition(":")
            if not sep:
                continue
            key, value = key.strip().lower(), value.strip()
            if key in ("user-agent", "useragent", "user agent"):
                if current is None or in_rules:
                    current = _Group()
                    groups.append(current)
                    in_rules = False
                current.agents.append(value.lower())
            elif key in ("allow", "disallow") and current is not None:
                in_rules = True
                if value:  # an empty Disallow allows everything: no rule
                    current.rules.append((_norm(value), key == "allow"))
        return cls(groups=groups)

    def _rules(self, agent: str) -> list[tuple[str, bool]]:
        token = agent.split("/", 1)[0].strip().lower()
        mine = [g for g in self.groups if token in g.agents]
        if not mine:
            mine = [g for g in self.groups if "*" in g.agents]
        return [r for g in mine for r in g.rules]

    def can_fetch(self, agent: str, url: str) -> bool:
        """True when ``agent`` may fetch ``url``: the longest matching rule decides,
        Allow winning a tie; ``/robots.txt`` itself is always allowed."""
        if self.disallow_all:
            return False
        if self.allow_all:
            return True
        parts = urlsplit(url)
        path = _norm(parts.path or "/") + ("?" + _norm(parts.query) if parts.query else "")
        if path == "/robots.txt":
            return True
        best, allowed = -1, True
        for pattern, allow in self._rules(agent):
            n = len(pattern)
            if (n > best or (n == best and allow)) and _match(pattern, path):
                best, allowed = n, allow
        return allowed
