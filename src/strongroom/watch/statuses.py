"""The statuses a watched seed can have, and the limits and phrases behind them.

Each seed gets exactly one status per check: ``ok``, ``edited``, ``redirect-home``,
``soft-404``, ``not-found``, ``gone``, ``blocked-451``, ``unreachable`` or ``geo-blocked``.
"""

from __future__ import annotations

OK = "ok"
EDITED = "edited"
REDIRECT_HOME = "redirect-home"
SOFT_404 = "soft-404"
NOT_FOUND = "not-found"
GONE = "gone"
BLOCKED_451 = "blocked-451"
UNREACHABLE = "unreachable"
GEO_BLOCKED = "geo-blocked"
STATUSES = (
    OK,
    EDITED,
    REDIRECT_HOME,
    SOFT_404,
    NOT_FOUND,
    GONE,
    BLOCKED_451,
    UNREACHABLE,
    GEO_BLOCKED,
)
# The live page is no longer there for readers: this archive may hold the only copy.
TAKEDOWN = frozenset({REDIRECT_HOME, SOFT_404, NOT_FOUND, GONE, BLOCKED_451})
# Statuses under which a vantage point still sees the article.
SEES_PAGE = frozenset({OK, EDITED})

MAX_BODY = 20 * 1024 * 1024  # a news article is far smaller; more is a hostile server
READ_STEP = 16 * 1024  # small steps bound what one gzip chunk can expand to in memory
MAX_REDIRECTS = 10
SOFT404_SIMILARITY = 0.9  # live page vs. a page that cannot exist
HOME_SIMILARITY = 0.9  # redirect target vs. the site's home page
DIFF_SNIPPETS = 5

# Error phrases in a <title> that mark an error page served with 200.
ERROR_TITLE_PHRASES = (
    "not found",
    "404",
    "page unavailable",
    "page not available",
    "no longer available",
    "page does not exist",
    "page doesn't exist",
    "страница не найдена",
    "страница недоступна",
    "ошибка 404",
    "seite nicht gefunden",
    "page introuvable",
    "página no encontrada",
)
# Phrases of the pages ISPs and national filters show instead of a blocked site.
BLOCK_PAGE_PHRASES = (
    "access restricted",
    "access to this resource is restricted",
    "access to this site is blocked",
    "blocked by order",
    "not available in your country",
    "unavailable in your region",
    "доступ ограничен",
    "доступ к информационному ресурсу ограничен",
    "роскомнадзор",
    "единый реестр",
)
# Legal labels a state forces publishers to show. One appearing later is an edit.
LEGAL_LABELS = (
    "foreign agent",
    "foreign-agent",
    "иностранный агент",
    "иностранного агента",
    "иностранным агентом",
    "undesirable organization",
    "undesirable organisation",
    "нежелательной организации",
    "нежелательная организация",
    "нежелательной",
    "extremist organization",
    "экстремистской организации",
)
