"""Who may see what in replay: pywb access rules, the staff guard, and the CSP.

Two layers keep restricted and embargoed captures away from the public:

* pywb's own access-control rules (``acl_lines``): a blocked collection's
  default is ``block``, so replayed content answers 451 unless the request
  carries ``X-Pywb-ACL-User: staff`` (set by the archivist's reverse proxy);
* the :class:`AccessGuard` in front of pywb. pywb's ACL covers replayed
  content only: its cdx API, timemaps, raw ``id_`` mode, calendar queries and
  collection listing still name a blocked capture's URLs, dates, digests and
  WARC files. So a request that is not staff is served by a second pywb app
  that knows only the open collections; only ordinary content replay of a
  blocked collection goes to the full app, which answers 451.

Every response also carries a Content-Security-Policy that allows the replay
origin only, so a page's script can never reach the live web during replay.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

STAFF_HEADER = "X-Pywb-ACL-User"  # pywb reads it as HTTP_X_PYWB_ACL_USER
STAFF_USER = "staff"
STAFF_ENV = "HTTP_" + STAFF_HEADER.upper().replace("-", "_")
DEFAULT_PORT = 8080
ACCESS_FILE = "access.json"  # written by build: which collections are blocked
# 'self' is the replay origin. data:/blob: are in-page bytes, not network
# requests; 'unsafe-inline'/'unsafe-eval' are needed because archived pages and
# pywb's wombat run inline scripts. No other origin is named, so nothing reaches
# the live web (pywb's default also allows ws:/wss: to any host; ours does not).
CSP = (
    "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'self'"
)
# Replay URL /<coll>/<14 digits or fewer><modifier>/<url>; these modifiers show
# the rewritten page or its parts. id_/ir_ (raw bytes) and queries are not here.
_CONTENT = re.compile(
    r"^/[^/]+/(?:\d{1,14}(?:mp_|if_|fr_|js_|cs_|im_|oe_|sw_|wkr_)?/)?https?:/", re.I
)

NGINX_SNIPPET = f"""\
# Public replay: never pass a staff header through from the outside.
location / {{
    proxy_pass http://127.0.0.1:{DEFAULT_PORT};
    proxy_set_header {STAFF_HEADER} "";
}}
# Staff replay, behind your own authentication: restricted bags become visible.
location /staff/ {{
    auth_basic "strongroom staff";
    auth_basic_user_file /etc/nginx/strongroom.htpasswd;
    proxy_pass http://127.0.0.1:{DEFAULT_PORT}/;
    proxy_set_header {STAFF_HEADER} {STAFF_USER};
}}"""


def surt_key(url: str) -> str:
    """pywb's SURT key for a URL (as in its CDXJ and ACL files)."""
    from pywb.utils.canonicalize import canonicalize

    return str(canonicalize(url))


def acl_lines(blocked: bool, excluded_urls: Iterable[str]) -> list[str]:
    """pywb access rules for one collection, in the reverse order pywb searches."""
    rules: list[str] = []
    if blocked:
        # The collection's default is "block" (config.yaml). pywb stops searching
        # rules at the first key below the URL's top-level label, so a block and
        # an allow on one key cannot both be reached; hence: default block, and
        # "*," (every URL) allowed for the staff user only.
        rules.append(f'*, - {{"access": "allow", "user": "{STAFF_USER}"}}')
    for url in excluded_urls:
        with contextlib.suppress(Exception):
            rules.append(f'{surt_key(url)} - {{"access": "exclude"}}')
    return sorted(set(rules), reverse=True)


def access_json(blocked: list[str], open_: list[str]) -> str:
    """The JSON text of ``access.json`` (blocked and open collection names)."""
    return json.dumps({"blocked": sorted(blocked), "open": sorted(open_)}, indent=2) + "\n"


def read_blocked(root: Path) -> set[str]:
    """The blocked collection names that ``build`` recorded (empty when unreadable)."""
    try:
        data = json.loads((root / ACCESS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(n) for n in data.get("blocked", [])} if isinstance(data, dict) else set()


WSGIApp = Callable[[dict[str, Any], Any], Any]


class AccessGuard:
    """WSGI front of pywb: staff decision, open/full app choice, CSP on everything.

    ``staff``: ``header`` trusts the staff header (set by the reverse proxy),
    ``all`` treats every request as staff, ``none`` strips the header.
    """

    def __init__(self, full: WSGIApp, public: WSGIApp, blocked: set[str], staff: str) -> None:
        self.full, self.public, self.blocked, self.staff = full, public, blocked, staff

    def is_staff(self, environ: dict[str, Any]) -> bool:
        if self.staff == "all":
            environ[STAFF_ENV] = STAFF_USER
        elif self.staff == "none":
            environ.pop(STAFF_ENV, None)
        return bool(environ.get(STAFF_ENV) == STAFF_USER)

    def choose(self, environ: dict[str, Any]) -> WSGIApp:
        """The pywb app that may answer this request."""
        if self.is_staff(environ):
            return self.full
        path = str(environ.get("PATH_INFO") or "/")
        coll = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        if coll in self.blocked and _CONTENT.match(path) and "/*" not in path:
            return self.full  # content replay: pywb's ACL answers 451
        return self.public  # listings, cdx, timemap, id_: blocked collections do not exist

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        app = self.choose(environ)

        def with_csp(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() != "content-security-policy"]
            kept.append(("Content-Security-Policy", CSP))
            return start_response(status, kept, *exc)

        return app(environ, with_csp)
