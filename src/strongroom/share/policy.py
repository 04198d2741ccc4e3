"""The one policy for every way out of the archive.

Sharing to a partner, a tar export, a WACZ export and replay all ask
:func:`check_exit` whether a bag may leave, and all get the same answer from
the same rules:

- a ``dark`` bag never leaves;
- a bag leaves only to a destination that may receive its access level: a
  partner receives the levels its ``access`` lists in partners.toml; a file
  that may go anywhere (an export without ``--to``) and the public replay
  receive only ``public`` bags;
- a bag never goes to a partner in a jurisdiction where one of its publishers
  is designated.

``--override --reason`` overrules the policy, and the override is written to
the bag's custody log and to the ledger before anything leaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.errors import PolicyRefused, ProblemFound, UsageError

if TYPE_CHECKING:
    from strongroom.share.partners import Partner

POLICY_OVERRIDE = "policy override"
_BAG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class ExitRefused(PolicyRefused):
    """The exit policy forbids it (exit 1); ``reasons`` names each rule that blocks."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message)
        self.reasons = reasons


@dataclass(frozen=True)
class Exit:
    """A way out of the archive: what is done (``share``, ``export``, ``wacz``, ``replay``)
    and where the bag goes (a partner, or anywhere)."""

    action: str
    to: str = ""  # partner name; empty: anywhere
    jurisdiction: str = ""
    access: tuple[str, ...] = ("public",)

    @classmethod
    def partner(cls, partner: Partner, action: str = "share") -> Exit:
        return cls(action, partner.name, partner.jurisdiction, partner.access)

    @property
    def where(self) -> str:
        return f"partner {self.to}" if self.to else "anywhere"


def require_bag(archive: Archive, bag_id: str) -> Path:
    """The folder of a published bag, or a usage error."""
    if not _BAG_ID_RE.match(bag_id) or not (archive.bag_dir(bag_id) / "bagit.txt").is_file():
        raise UsageError(f"no bag {bag_id!r} in {archive.bags} (see `strongroom status`)")
    return archive.bag_dir(bag_id)


def exit_reasons(archive: Archive, bag_id: str, way: Exit) -> list[str]:
    """Why ``bag_id`` must not leave by ``way``; empty when the policy allows it."""
    from strongroom.bag.access import bag_designations, current_access

    reasons: list[str] = []
    level = current_access(archive, bag_id)
    if level == "dark":
        reasons.append(f"{bag_id} is dark: dark bags are kept here and never leave")
    elif level not in way.access:
        if way.to:
            reasons.append(
                f"{bag_id} is {level} and partner {way.to} may only receive"
                f" {', '.join(way.access)} bags"
            )
        else:
            reasons.append(
                f"{bag_id} is {level}: a file that may go anywhere carries only public bags"
                " (name a partner allowed to hold it with --to PARTNER, or"
                ' `strongroom access BAG public --reason "..."`)'
            )
    if way.jurisdiction:
        for d in bag_designations(archive, bag_id):
            if d.jurisdiction == way.jurisdiction:
                reasons.append(
                    f"designation '{d.label()}' applies in {d.jurisdiction}, where partner"
                    f" {way.to} is"
                )
    return reasons


def replay_audience(archive: Archive, bag_id: str) -> str | None:
    """Who may see a bag in replay, by the same rules: ``public`` (everyone),
    ``restricted`` (staff only) or None (nobody: it does not leave)."""
    if not exit_reasons(archive, bag_id, Exit("replay")):
        return "public"
    if not exit_reasons(archive, bag_id, Exit("replay", access=("public", "restricted"))):
        return "restricted"
    return None


def check_exit(
    archive: Archive,
    bag_id: str,
    way: Exit,
    *,
    override: bool = False,
    reason: str | None = None,
) -> list[str]:
    """Refuse (PolicyRefused) unless allowed or overridden; log an override; return
    the reasons that were overridden (empty when the policy allows the exit)."""
    why = (reason or "").strip()
    if override and not why:
        raise UsageError('--override needs --reason "..." so the custody log says why')
    if reason and not override:
        raise UsageError("--reason only applies with --override")
    reasons = exit_reasons(archive, bag_id, way)
    if not reasons:
        return []
    if not override:
        target = f" to {way.to}" if way.to else ""
        raise ExitRefused(
            f"refusing to {way.action} {bag_id}{target}: "
            + "; ".join(reasons)
            + ' (use --override --reason "..." to overrule, which is logged)',
            reasons,
        )
    log_override(archive, bag_id, way, why, reasons)
    return reasons


def log_override(archive: Archive, bag_id: str, way: Exit, why: str, reasons: list[str]) -> None:
    """The override in the custody log and the ledger, before anything leaves."""
    detail: dict[str, Any] = {"action": way.action, "reasons": reasons}
    inputs: dict[str, Any] = {"action": way.action, "reason": why}
    if way.to:
        detail["partner"] = inputs["partner"] = way.to
    custody.record_event(
        archive, bag_id, POLICY_OVERRIDE, outcome="success", inputs=inputs, detail=detail
    )


def validate_or_refuse(bag_dir: Path, what: str) -> Any:
    """Full validation; ProblemFound naming the first problems when the bag is damaged."""
    from strongroom.verify.validate import validate_bag

    report = validate_bag(bag_dir, "full")
    if not report.valid:
        shown = "; ".join(p.message for p in report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise ProblemFound(f"{bag_dir.name} is damaged, {what}: {shown}{more}")
    return report
