"""ES modules in replay: which scripts pywb must leave unwrapped."""

from __future__ import annotations

import pytest

from strongroom.replay.serve import is_module_source


@pytest.mark.parametrize(
    "source",
    [
        'import { a } from "./a.js";\na();',
        "import * as x from '/x.js'",
        'import "./side-effect.js";',
        "const x = 1;\nexport default x;",
        "export function f() {}",
        "export { a, b };",
        "  export const y = 2;",
    ],
)
def test_module_sources_are_recognised(source: str) -> None:
    assert is_module_source(source)


@pytest.mark.parametrize(
    "source",
    [
        "var important = 1; document.title = 'x';",
        "import('./lazy.js').then(m => m.run());",  # dynamic import is legal in any script
        "// import { a } from 'b'\nwindow.x = 1;",
        "const exported = 3; imports.push(1);",
        "",
    ],
)
def test_classic_scripts_are_not_modules(source: str) -> None:
    assert not is_module_source(source)
