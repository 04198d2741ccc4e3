"""Bags that another run is publishing right now: verify leaves them to its next run.

Publishing a bag (``bag.publish``) or a received one (``share.ingest``) renames
its folder into ``bags/`` before the ledger row, custody line and inventory
entry are written, and closes its intent after them. A verify that looked in
between reported the bag as "unrecorded" (V041): a false alarm, mailed by cron,
that reads like tampering. So verify first asks the ledger for intents still
pending (``Ledger.open_intents``, one indexed query):

- if the run that opened them still holds the archive's publishing lock, their
  bags are left alone this time, and verify says so;
- if no run holds it, that run died: verify finishes its work as every locked
  command does (``reconcile``: record a whole bag, quarantine a broken one),
  then checks the bags, now whole and recorded;
- on a ledger shared by several nodes, such bags are only left alone (see
  :func:`settle`).
"""

from __future__ import annotations

import sqlite3

from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger
from strongroom.errors import StrongroomError


class Settled:
    """What :func:`settle` found: bags still being published, and why (a note);
    ``stuck`` when no run is publishing them and they could not be finished here."""

    __slots__ = ("in_flight", "note", "stuck")

    def __init__(self, in_flight: set[str], note: str = "", stuck: bool = False) -> None:
        self.in_flight = in_flight
        self.note = note
        self.stuck = stuck


def settle(archive: Archive, ledger: Ledger, local: set[str] | None = None) -> Settled:
    """Finish the publications of runs that died; name those another run has under way.

    ``ledger``: the run's own connection (no second one for the nightly question).
    ``local``: the bags on this node's disk that the caller checks (default: every
    bag on it; another node's intents on a shared ledger are about bags this one
    may not hold). On a shared ledger nothing is finished here: the publishing
    lock is each node's own, so this node cannot tell a run on another node that
    is still at work from a dead one; the next ``strongroom bag`` of the node that
    opened it finishes it.
    """
    open_ = ledger.open_intents()
    if not open_:  # the nightly case: one indexed query, no listing of the bags
        return Settled(set())
    local = set(archive.bag_ids()) if local is None else local
    pending = open_ & local
    if not pending:
        return Settled(set())
    if ledger.shared:
        return Settled(pending, "open in the shared ledger; the node that made them finishes it")
    from strongroom.bag import publish
    from strongroom.share import ingest

    try:
        with publish.publishing_if_free(archive) as free:
            if not free:
                return Settled(pending, "another strongroom run is publishing them")
            publish.reconcile(archive)
            ingest.reconcile(archive)
    except (StrongroomError, OSError, sqlite3.Error) as exc:  # a read-only or full archive
        reason = getattr(exc, "message", None) or str(exc)
        return Settled(pending, f"an unfinished publication could not be finished: {reason}", True)
    left = ledger.open_intents() & local
    return Settled(left, "their publication is still open" if left else "", bool(left))
