"""The README walk-through, run as written: every marked block, in order.

A code block in README.md preceded by ``<!-- walkthrough -->`` is a terminal
session: each ``$ command`` line runs in a shell (``strongroom`` is this
checkout's), in a fresh folder that stands for the README's ``/tmp/newsroom``,
with the demo site on a port that stands for its 8737, and what it prints must
have the shape the README shows: ids, times, sizes and digests may differ,
words, columns and exit codes (``[exit 1]``) may not. A line ``...`` stands for
lines left out. Lines starting with ``# `` right before a command are comments.

``<!-- walkthrough: file PATH -->`` before a block writes the block to PATH;
``<!-- walkthrough: stop the demo site -->`` stops it (the reader presses
Ctrl-C in the terminal that serves it).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from strongroom.demosite import SiteServer

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
README_DIR = "/tmp/newsroom"
README_PORT = "8737"
MARK = re.compile(r"<!-- walkthrough(?::\s*(.*?))?\s*-->\s*\n```[a-z]*\n(.*?)\n```", re.DOTALL)
RECORD = os.environ.get("README_RECORD", "")
CAPTURE_ID = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
# Tokens whose value differs from run to run, each matched by its shape.
SHAPES = [
    (re.compile(CAPTURE_ID), None),  # bound: the same README id is the same real id
    (re.compile(r"SHA256:[A-Za-z0-9+/]{43}"), r"SHA256:[A-Za-z0-9+/]{43}"),
    (re.compile(r"[0-9a-f]{16}…"), r"[0-9a-f]{16}…"),
    (re.compile(r"\d+(?:\.\d+)?"), r"\d+(?:\.\d+)?"),
    (re.compile(r"[━─]+"), r"[━─]+"),
    (re.compile(r" +"), r" +"),
]


@dataclass
class Step:
    kind: str  # "session", "file" or an action
    text: str
    target: str = ""


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


def steps(readme: str) -> list[Step]:
    found = []
    for m in MARK.finditer(readme):
        directive = (m.group(1) or "").strip()
        if not directive:
            found.append(Step("session", m.group(2)))
        elif directive.startswith("file "):
            found.append(Step("file", m.group(2), directive[5:].strip()))
        else:
            found.append(Step(directive, m.group(2)))
    return found


def commands(block: str) -> list[Command]:
    """``$ command`` lines (a trailing ``\\`` continues one), their output and exit code."""
    cmds: list[Command] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            cmds.append(Command(text))
        elif line.startswith("# ") and _next_is_command(lines, i):
            pass  # a comment for the reader
        elif not cmds:
            raise AssertionError(f"README walk-through: output before any command: {line!r}")
        elif m := re.fullmatch(r"\[exit (\d+)\]", line):
            cmds[-1].exit_code = int(m.group(1))
        else:
            cmds[-1].expected.append(line)
        i += 1
    for c in cmds:
        while c.expected and not c.expected[-1].strip():
            c.expected.pop()
    return cmds


def _next_is_command(lines: list[str], i: int) -> bool:
    for later in lines[i + 1 :]:
        if later.startswith("$ "):
            return True
        if not later.startswith("# "):
            return False
    return False


class Session:
    """The reader's shell: a folder, a port, and the ids seen so far."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, str(port)
        self.ids: dict[str, str] = {}  # README capture id -> real one
        bin_dir = root.parent / (root.name + "-bin")
        bin_dir.mkdir()
        wrapper = bin_dir / "strongroom"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m strongroom "$@"\n')
        wrapper.chmod(0o755)
        path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("STRONGROOM_") or k == "STRONGROOM_TEST"
        } | {"PATH": path, "COLUMNS": "100", "PYTHONUNBUFFERED": "1", "TERM": "dumb"}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        )

    def real(self, text: str) -> str:
        """README text with this run's folder, port and ids."""
        text = text.replace(README_DIR, str(self.root)).replace(f":{README_PORT}", f":{self.port}")
        return re.sub(CAPTURE_ID, lambda m: self.ids.get(m.group(0), m.group(0)), text)

    def run(self, cmd: Command) -> str:
        line = self.real(cmd.line)
        unknown = [i for i in re.findall(CAPTURE_ID, cmd.line) if i not in self.ids]
        assert not unknown, f"README uses {unknown} before any output shows it: {cmd.line}"
        proc = subprocess.run(
            ["bash", "-c", line],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        shown = proc.stdout.replace(str(self.root), README_DIR)
        shown = shown.replace(f":{self.port}", f":{README_PORT}")
        if RECORD:  # README_RECORD=FILE: write what each command printed, to update the README
            with open(RECORD, "a", encoding="utf-8") as fh:
                fh.write(f"$ {cmd.line}\n{shown}[exit {proc.returncode}]\n\n")
            for readme_id, real in zip(  # noqa: B905 (the record may be shorter)
                re.findall(CAPTURE_ID, "\n".join(cmd.expected)), re.findall(CAPTURE_ID, shown)
            ):
                self.ids.setdefault(readme_id, real)
            return shown
        assert proc.returncode == cmd.exit_code, (
            f"$ {cmd.line}\nexit {proc.returncode}, the README says {cmd.exit_code}\n{shown}"
        )
        self.check(cmd, shown)
        return shown

    def check(self, cmd: Command, shown: str) -> None:
        pattern, readme_ids = self.pattern(cmd.expected)
        m = re.fullmatch(pattern, shown.rstrip("\n"), re.DOTALL)
        assert m, f"$ {cmd.line}\nprinted:\n{shown}\nbut the README shows:\n" + "\n".join(
            cmd.expected
        )
        for group, readme_id in readme_ids.items():
            self.ids.setdefault(readme_id, m.group(group))

    def pattern(self, expected: list[str]) -> tuple[str, dict[str, str]]:
        """A regex for the README's output: variable tokens by shape, ``...`` for any lines."""
        readme_ids: dict[str, str] = {}
        parts = []
        for line in expected:
            if line.strip() == "...":
                parts.append(r"(?:[^\n]*\n)*?")
                continue
            parts.append(self._line(line.rstrip(), readme_ids) + r" *\n")
        return "".join(parts).removesuffix(r" *\n") + r" *", readme_ids

    def _line(self, line: str, readme_ids: dict[str, str]) -> str:
        out, pos = [], 0
        while pos < len(line):
            for shape, regex in SHAPES:
                m = shape.match(line, pos)
                if not m:
                    continue
                token = m.group(0)
                if regex is None:  # a capture id: the same one each time it recurs
                    if token in self.ids:
                        out.append(re.escape(self.ids[token]))
                    elif token in readme_ids.values():
                        group = next(g for g, t in readme_ids.items() if t == token)
                        out.append(f"(?P={group})")
                    else:
                        group = f"id{len(readme_ids)}"
                        readme_ids[group] = token
                        out.append(f"(?P<{group}>{CAPTURE_ID})")
                else:
                    out.append(regex)
                pos = m.end()
                break
            else:
                out.append(re.escape(line[pos]))
                pos += 1
        return "".join(out)


def _four_digit_port() -> int:
    """A free port of four digits, like the README's 8737, so that columns line up."""
    for port in random.sample(range(8000, 10000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free four-digit port on 127.0.0.1")


@pytest.fixture
def newsroom() -> Iterator[Path]:
    """A folder whose path is as long as /tmp/newsroom, so that table columns line up."""
    import secrets

    while True:
        root = Path(f"/tmp/nr{secrets.token_hex(3)[: len(README_DIR) - 7]}")
        try:
            root.mkdir()
            break
        except FileExistsError:
            continue
    assert len(str(root)) == len(README_DIR)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(root.parent / (root.name + "-bin"), ignore_errors=True)


def test_readme_walkthrough_is_marked_and_parses() -> None:
    found = steps(README.read_text("utf-8"))
    sessions = [s for s in found if s.kind == "session"]
    assert len(sessions) >= 8
    lines = [c.line for s in sessions for c in commands(s.text)]
    for expected in (
        "strongroom keys init",
        "strongroom archive -c",
        "strongroom verify",
        "strongroom watch",
        "strongroom share",
        "strongroom keys trust",
        "strongroom receive",
        "strongroom report",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    assert {s.target for s in found if s.kind == "file"} >= {
        "archive/config.toml",
        "archive/partners.toml",
    }


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(newsroom: Path) -> None:
    port = _four_digit_port()
    (newsroom / "collections").mkdir()
    for name in ("demo.toml",):
        text = (REPO / "collections" / name).read_text("utf-8")
        (newsroom / "collections" / name).write_text(text.replace(":8737/", f":{port}/"))
    session = Session(newsroom, port)
    site = SiteServer(port=port).start()
    running = True
    try:
        for step in steps(README.read_text("utf-8")):
            if step.kind == "file":
                target = newsroom / step.target
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(session.real(step.text) + "\n", "utf-8")
                continue
            if step.kind == "stop the demo site":
                site.stop()
                running = False
            elif step.kind != "session":
                raise AssertionError(f"unknown walk-through directive {step.kind!r}")
            for cmd in commands(step.text):
                session.run(cmd)
    finally:
        if running:
            site.stop()
