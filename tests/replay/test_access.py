"""The staff guard in front of pywb: which app answers, and the CSP on every answer."""

from __future__ import annotations

from typing import Any

import pytest

from strongroom.replay.access import CSP, STAFF_ENV, STAFF_USER, AccessGuard


def _app(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Security-Policy", "default-src *"), ("X", name)])
        return [name.encode()]

    return app


def _call(guard: AccessGuard, path: str, staff: str | None = None) -> tuple[str, list[Any]]:
    env: dict[str, Any] = {"PATH_INFO": path}
    if staff is not None:
        env[STAFF_ENV] = staff
    seen: list[Any] = []
    body = guard(env, lambda status, headers, *exc: seen.extend(headers))
    return b"".join(body).decode(), seen


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/", "open"),
        ("/collinfo.json", "open"),
        ("/secret/", "open"),
        ("/secret/cdx", "open"),
        ("/secret/timemap/link/http://x.example/a", "open"),
        ("/secret/20240101000000id_/http://x.example/a", "open"),
        ("/secret/*/http://x.example/*", "open"),
        ("/secret/2024*/http://x.example/a", "open"),
        ("/secret/20240101000000mp_/http://x.example/a", "full"),  # pywb's ACL says 451
        ("/secret/20240101000000/http://x.example/a", "full"),
        ("/secret/http://x.example/a", "full"),
        ("/public/20240101000000id_/http://x.example/a", "open"),
    ],
)
def test_visitors_never_reach_the_index_of_a_blocked_collection(path: str, who: str) -> None:
    guard = AccessGuard(_app("full"), _app("open"), {"secret"}, "header")
    assert _call(guard, path)[0] == who
    assert _call(guard, path, staff="visitor")[0] == who
    assert _call(guard, path, staff=STAFF_USER)[0] == "full"


def test_staff_modes_and_the_csp_replaces_any_other() -> None:
    for mode, expect in (("all", "full"), ("none", "open")):
        guard = AccessGuard(_app("full"), _app("open"), {"secret"}, mode)
        assert _call(guard, "/secret/cdx", staff=STAFF_USER)[0] == expect
    _body, headers = _call(AccessGuard(_app("full"), _app("open"), set(), "header"), "/")
    csp = [v for k, v in headers if k.lower() == "content-security-policy"]
    assert csp == [CSP]
