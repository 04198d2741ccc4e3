"""Replay through pywb: the public names of the replay room in one place.

The work is split by concern: :mod:`~strongroom.replay.collection` builds the
pywb folder from bags, :mod:`~strongroom.replay.access` decides who sees what
(ACL, staff guard, Content-Security-Policy), :mod:`~strongroom.replay.serve`
runs pywb, and :mod:`~strongroom.replay.wacz` exports WACZ files.
"""

from __future__ import annotations

from strongroom.replay.access import (
    CSP,
    DEFAULT_PORT,
    NGINX_SNIPPET,
    STAFF_HEADER,
    STAFF_USER,
    acl_lines,
    surt_key,
)
from strongroom.replay.collection import (
    ReplayBag,
    ReplayBuild,
    ReplayCollection,
    ReplaySeed,
    _index,
    build,
    read_bag,
    replay_url,
    select_bags,
)
from strongroom.replay.serve import ReplayServer, free_port, is_loopback, start
from strongroom.replay.wacz import WaczResult, export_wacz, validate_wacz

__all__ = [  # _index: the CDXJ indexer, for tools and test kits that build a pywb folder
    "CSP",
    "DEFAULT_PORT",
    "NGINX_SNIPPET",
    "STAFF_HEADER",
    "STAFF_USER",
    "ReplayBag",
    "ReplayBuild",
    "ReplayCollection",
    "ReplaySeed",
    "ReplayServer",
    "WaczResult",
    "_index",
    "acl_lines",
    "build",
    "export_wacz",
    "free_port",
    "is_loopback",
    "read_bag",
    "replay_url",
    "select_bags",
    "start",
    "surt_key",
    "validate_wacz",
]
