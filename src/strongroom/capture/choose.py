"""Whether a capture drives Chromium: decided without importing the browser machinery.

A static capture (``capture`` without ``--browser``) must not pay for
importing :mod:`strongroom.capture.browser` (Playwright glue, screenshots,
subprocess and logging) at start-up, so the choice lives here and looks for
Chromium only when a browser capture is wanted.
"""

from __future__ import annotations

INSTALL_HINT = "apt-get install chromium"


def choose_browser(
    requested: bool | None, collection: bool | None, default: bool, chromium: str | None = None
) -> tuple[bool, str]:
    """Whether to capture with Chromium, and a warning to print once (or '').

    ``requested`` is ``--browser``/``--no-browser`` (None when neither was
    given), ``collection`` the collection's ``[capture] browser``, ``default``
    the command's own default (``archive``: on; ``capture``: off). An explicit
    ``--browser`` without Chromium raises ``ChromiumMissing`` (exit 2); otherwise
    a missing Chromium means a static capture and a warning.
    """
    if requested is not None:
        if requested:
            from strongroom.capture.screenshot import find_chromium

            find_chromium(chromium)
        return requested, ""
    want = default if collection is None else collection
    if not want:
        return False, ""
    from strongroom.capture.screenshot import ChromiumMissing, find_chromium

    try:
        find_chromium(chromium)
    except ChromiumMissing:
        return False, (
            "Chromium is not installed: capturing statically, without running the pages' "
            f"JavaScript (install it with: {INSTALL_HINT})"
        )
    return True, ""
