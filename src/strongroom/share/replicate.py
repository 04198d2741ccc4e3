"""The replication policy: how many copies a bag has, where, and sending more.

``[replication]`` in config.toml asks for ``min_copies`` good copies in
``min_jurisdictions`` jurisdictions; the local copy counts, in this archive's
own jurisdiction. :func:`replicate_all` sends copies, within the exit policy
and never overriding it, until every bag complies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strongroom.core.archive import Archive
from strongroom.errors import ProblemFound, UsageError

if TYPE_CHECKING:
    from strongroom.share.partners import Partner

# partners, policy and send are imported where they are used: status and the report
# count copies (replication_status) and need none of them, nor their start-up.


@dataclass
class ReplicationStatus:
    """How many copies of a bag exist, where, and whether that meets the policy."""

    bag_id: str
    copies: int
    jurisdictions: list[str]
    compliant: bool
    problems: list[str] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    min_copies: int = 3
    min_jurisdictions: int = 2

    @property
    def by_jurisdiction(self) -> dict[str, int]:
        """Good copies per jurisdiction, e.g. {"DE": 1, "UA": 2} (for ``status``)."""
        out: dict[str, int] = {}
        for loc in self.locations:
            if loc["status"] == "ok" and loc["jurisdiction"]:
                out[loc["jurisdiction"]] = out.get(loc["jurisdiction"], 0) + 1
        return dict(sorted(out.items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag_id": self.bag_id,
            "copies": self.copies,
            "by_jurisdiction": self.by_jurisdiction,
            "jurisdictions": self.jurisdictions,
            "compliant": self.compliant,
            "problems": self.problems,
            "locations": self.locations,
            "min_copies": self.min_copies,
            "min_jurisdictions": self.min_jurisdictions,
        }


def _local_copy(
    archive: Archive, bag_id: str, problems: list[str], present: bool | None = None
) -> dict[str, Any] | None:
    """The local copy as a location row, or None (with the problem) when it is missing.

    ``present``: whether the bag is here, when the caller already looked (status
    and the report list the bags folder once rather than stat every bag)."""
    own = archive.config.jurisdiction
    here = (archive.bag_dir(bag_id) / "bagit.txt").exists() if present is None else present
    if not here:
        problems.append(f"no local copy in {archive.bags}")
        return None
    if not own:
        problems.append(
            "this archive's jurisdiction is not set ([organization] jurisdiction in"
            f" {archive.config_path}); the local copy counts for no jurisdiction"
        )
    return {
        "partner": "local",
        "location": os.path.join(archive.bags, bag_id),  # as str(bag_dir), without pathlib's cost
        "jurisdiction": own,
        "status": "ok",
        "verified_at": None,
    }


def replication_status(
    archive: Archive,
    bag_id: str,
    copies: Callable[[str], list[dict[str, Any]]] | None = None,
    stands_alone: bool = False,
    present: bool | None = None,
) -> ReplicationStatus:
    """Count the local copy plus the partners' ``ok`` copies, against ``[replication]``.

    ``copies``: a bag's copy rows from rows already read (status and the report
    read all of them in one query), instead of one ledger query per bag.
    ``stands_alone``: the ledger recorded at bagging that the bag depends on no
    other bag, so its closure is empty without reading its bag-info.
    ``present``: whether the bag's folder (with its bagit.txt) is here, if known.
    """
    if copies is None:
        from strongroom.share.send import copy_rows

    rows_of = copies or (lambda b: copy_rows(archive, b))
    policy = archive.config.replication
    problems: list[str] = []
    locations: list[dict[str, Any]] = []
    deps = [] if stands_alone else _closure(archive, bag_id, problems)
    local = _local_copy(archive, bag_id, problems, present)
    if local is not None:
        if deps is None:  # the closure is incomplete here: the local copy does not count
            local["status"] = "incomplete closure"
        locations.append(local)
    held = {d: {r["partner"] for r in rows_of(d) if r["status"] == "ok"} for d in deps or []}
    for row in rows_of(bag_id):
        loc = {k: row[k] for k in ("partner", "location", "jurisdiction", "status", "verified_at")}
        if row["status"] != "ok":
            problems.append(f"copy at {row['partner']} is {row['status']} ({row['location']})")
        elif deps is None or any(row["partner"] not in held[d] for d in deps):
            # a copy counts only where its whole closure is
            missing = [d for d in deps or [] if row["partner"] not in held[d]]
            loc["status"] = "incomplete closure"
            problems.append(
                f"copy at {row['partner']} lacks what it depends on"
                + (f" ({', '.join(missing)})" if missing else "")
                + f"; share it again: `strongroom share {bag_id} --to {row['partner']}`"
            )
        locations.append(loc)
    good = [loc for loc in locations if loc["status"] == "ok"]
    count = len(good)
    juris = {loc["jurisdiction"] for loc in good if loc["jurisdiction"]}
    if count < policy.min_copies:
        problems.append(f"{count} of {policy.min_copies} copies")
    if len(juris) < policy.min_jurisdictions:
        problems.append(f"{len(juris)} of {policy.min_jurisdictions} jurisdictions")
    return ReplicationStatus(
        bag_id=bag_id,
        copies=count,
        jurisdictions=sorted(juris),
        compliant=count >= policy.min_copies and len(juris) >= policy.min_jurisdictions,
        problems=problems,
        locations=locations,
        min_copies=policy.min_copies,
        min_jurisdictions=policy.min_jurisdictions,
    )


def _closure(archive: Archive, bag_id: str, problems: list[str]) -> list[str] | None:
    """The bags ``bag_id`` depends on, or None (with the problem) when that is incomplete."""
    from strongroom.bag.closure import closure

    if not (archive.bag_dir(bag_id) / "bagit.txt").exists():
        return []
    try:
        return closure(archive, bag_id)
    except ProblemFound as exc:
        problems.append(exc.message)
        return None


@dataclass
class ReplicatePlan:
    """One copy that replicate sent (or would send, with --dry-run)."""

    bag_id: str
    partner: str
    jurisdiction: str
    status: str  # sent | planned | failed
    message: str = ""


@dataclass
class ReplicateResult:
    actions: list[ReplicatePlan] = field(default_factory=list)
    compliant: list[str] = field(default_factory=list)
    unmet: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unmet and all(a.status != "failed" for a in self.actions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "actions": [a.__dict__ for a in self.actions],
            "compliant": self.compliant,
            "unmet": self.unmet,
        }


def _candidates(
    archive: Archive, bag_id: str, partners: list[Partner]
) -> tuple[list[Partner], list[str]]:
    """Partners that lack a copy and may receive one; and why the others may not."""
    from strongroom.bag.closure import closure
    from strongroom.share.policy import Exit, exit_reasons
    from strongroom.share.send import copy_rows

    holders = {r["partner"] for r in copy_rows(archive, bag_id)}
    refused: list[str] = []
    candidates: list[Partner] = []
    try:
        deps = closure(archive, bag_id)
    except ProblemFound as exc:
        return [], [exc.message]
    for p in partners:
        if p.name in holders:
            continue
        way = Exit.partner(p, "share")
        reasons = exit_reasons(archive, bag_id, way)
        for d in deps:  # the closure goes with the bag, under the same policy
            reasons += [f"it depends on {d}: {why}" for why in exit_reasons(archive, d, way)]
        if reasons:
            refused.append(f"{p.name}: {'; '.join(reasons)}")
        else:
            candidates.append(p)
    return candidates, refused


def _send_one(
    archive: Archive, bag_id: str, pick: Partner, dry_run: bool, result: ReplicateResult
) -> str | None:
    """Send (or plan) one copy; return the failure message, None on success."""
    from strongroom.share.send import share_bag

    if dry_run:
        result.actions.append(ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "planned"))
        return None
    try:
        res = share_bag(archive, bag_id, pick.name)
    except (ProblemFound, UsageError) as exc:
        result.actions.append(
            ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "failed", exc.message)
        )
        return f"{pick.name}: {exc.message}"
    result.actions.append(ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "sent", res.location))
    return None


def _replicate_bag(
    archive: Archive,
    bag_id: str,
    st: ReplicationStatus,
    partners: list[Partner],
    dry_run: bool,
    result: ReplicateResult,
) -> None:
    """Bring one bag up to the policy, or say in ``result.unmet`` why it cannot be."""
    policy = archive.config.replication
    candidates, refused = _candidates(archive, bag_id, partners)
    copies, juris = st.copies, set(st.jurisdictions)
    failures: list[str] = []
    while candidates and (copies < policy.min_copies or len(juris) < policy.min_jurisdictions):
        fresh = [p for p in candidates if p.jurisdiction not in juris]
        pool = fresh if fresh and len(juris) < policy.min_jurisdictions else candidates
        pick = sorted(pool, key=lambda p: p.name)[0]
        candidates.remove(pick)
        failure = _send_one(archive, bag_id, pick, dry_run, result)
        if failure:
            failures.append(failure)
            continue
        copies += 1
        juris.add(pick.jurisdiction)
    if copies >= policy.min_copies and len(juris) >= policy.min_jurisdictions:
        if not dry_run:
            result.compliant.append(bag_id)
        return
    why = [
        f"needs {policy.min_copies} copies in {policy.min_jurisdictions} jurisdictions;"
        f" at most {copies} in {len(juris)} ({', '.join(sorted(juris)) or 'none'})"
        " are possible with the partners in partners.toml"
    ]
    result.unmet[bag_id] = why + refused + failures


def replicate_all(
    archive: Archive, *, dry_run: bool = False, bag_ids: list[str] | None = None
) -> ReplicateResult:
    """Send copies, within policy and never overriding it, until every bag complies.

    Partners in jurisdictions the bag lacks go first, so the jurisdiction rule
    is met with as few copies as possible; ties go by partner name.
    """
    from strongroom.share.partners import load_partners

    archive.require()
    partners = load_partners(archive)
    result = ReplicateResult()
    for bag_id in bag_ids if bag_ids is not None else archive.bag_ids():
        st = replication_status(archive, bag_id)
        if st.compliant:
            result.compliant.append(bag_id)
            continue
        _replicate_bag(archive, bag_id, st, partners, dry_run, result)
    return result
