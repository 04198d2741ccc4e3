"""The provenance of a bag in W3C PROV-O, as JSON-LD (``tags/prov.jsonld``).

It tells the same story as ``tags/premis.xml`` (:mod:`strongroom.bag.premis`):
the web capture used the seed URLs and generated the WARC files and the pages
in them; the screenshot (rendering) used the WARC and generated the
derivatives, which were derived from their page; the bagging used the WARCs and
derivatives and generated the bag. The agents are the software with its
version, the organisation and the capture operator, named only by pseudonym
since capturers may be at risk.

The graph is built with rdflib and serialised by its JSON-LD serialiser with a
compact ``@context``, so that any RDF tool (rdflib, pyld, Jena) reads PROV-O
triples in the ``http://www.w3.org/ns/prov#`` namespace. Identifiers are URNs
(``urn:strongroom:<bag id>/...``): a bag stands alone and names nothing on the
network. The file is written once, inside the bag, at bagging time; later
events go to the custody log, so the bag never changes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROV_NS = "http://www.w3.org/ns/prov#"
SR_NS = "urn:strongroom:vocab#"
MAX_DERIVATIVE_JSON = 1024 * 1024
_PLAIN = re.compile(
    r"^[A-Za-z0-9/:._-]*$"
)  # needs no percent-encoding  # a rendering event is a few hundred bytes


@dataclass(frozen=True)
class FileFacts:
    """A payload file as provenance sees it."""

    path: str  # bag path, "data/warc/x.warc.gz"
    size: int
    digests: dict[str, str]
    is_warc: bool
    records: int = 0


@dataclass(frozen=True)
class Rendering:
    """One page rendered into derivatives (from ``derivatives/<slug>.json``)."""

    url: str
    warc_file: str  # the WARC file name the page was rendered from
    time: str
    files: tuple[str, ...]  # bag paths of the screenshot and text
    renderer: str = ""


@dataclass(frozen=True)
class Designation:
    """A legal designation that governs access (publisher, jurisdiction, kind)."""

    label: str
    jurisdiction: str
    kind: str


@dataclass(frozen=True)
class Context:
    """Everything the provenance files say, gathered by the bagger."""

    bag_id: str
    capture: dict[str, Any]
    files: list[FileFacts]
    seeds: list[str]
    operator: str
    organization: str
    software: str
    digest_started: str
    digest_ended: str
    packed: str
    algorithms: Sequence[str] = field(default_factory=lambda: ("sha512",))
    renderings: Sequence[Rendering] = ()
    access: str = "public"
    designations: Sequence[Designation] = ()
    embargo_until: str = ""

    @property
    def capture_id(self) -> str:
        return str(self.capture.get("capture_id") or "")

    @property
    def crawler(self) -> str:
        return str(self.capture.get("software") or self.software)

    def iri(self, *parts: str) -> str:
        """A URN for something in this bag (path parts percent-encoded)."""
        tail = "/".join(p if _PLAIN.match(p) else quote(p, safe="/:._-") for p in parts)
        return f"{self.iri_base}{tail}"

    @functools.cached_property
    def iri_base(self) -> str:
        return f"urn:strongroom:{quote(self.bag_id, safe='._-')}/"


def read_renderings(derivatives_dir: Path) -> list[Rendering]:
    """The rendering events screenshots wrote beside their derivatives.

    The files come from a capture folder, so each is size-checked and
    shape-checked; one that does not fit is skipped (the derivatives are still
    bagged and listed in the manifests, just not linked to their page).
    """
    out: list[Rendering] = []
    if not derivatives_dir.is_dir() or derivatives_dir.is_symlink():
        return out
    for p in sorted(derivatives_dir.glob("*.json")):
        if p.is_symlink() or not p.is_file() or p.stat().st_size > MAX_DERIVATIVE_JSON:
            continue
        try:
            event = json.loads(p.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        r = _rendering(event)
        if r is not None:
            out.append(r)
    return out


def _rendering(event: Any) -> Rendering | None:
    if not isinstance(event, dict) or not isinstance(event.get("source"), dict):
        return None
    src = event["source"]
    url, warc = src.get("target_uri"), src.get("warc_file")
    made = event.get("premis:eventDateTime")
    derivs = event.get("derivatives")
    if not (isinstance(url, str) and isinstance(warc, str) and isinstance(made, str)):
        return None
    if not isinstance(derivs, list):
        return None
    files = tuple(
        "data/derivatives/" + d["file"]
        for d in derivs
        if isinstance(d, dict) and isinstance(d.get("file"), str) and "/" not in d["file"]
    )
    agents = event.get("premis:linkingAgent")
    renderer = ""
    if isinstance(agents, list):
        for a in agents:
            if isinstance(a, dict) and a.get("role") == "rendering program":
                renderer = str(a.get("name") or "")
    return Rendering(url=url, warc_file=warc, time=made, files=files, renderer=renderer)


CONTEXT = {
    "prov": PROV_NS,
    "sr": SR_NS,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    # PROV-O relations whose values are nodes, so that {"@id": ...} is not needed
    **{
        k: {"@id": f"prov:{k}", "@type": "@id"}
        for k in (
            "wasGeneratedBy",
            "used",
            "wasAssociatedWith",
            "wasDerivedFrom",
            "wasAttributedTo",
            "actedOnBehalfOf",
            "hadMember",
        )
    },
    **{
        k: {"@id": f"prov:{k}", "@type": "xsd:dateTime"}
        for k in ("startedAtTime", "endedAtTime", "generatedAtTime")
    },
    "label": "rdfs:label",
    "comment": "rdfs:comment",
    "size": {"@id": "sr:size", "@type": "xsd:integer"},
}


def prov_jsonld(ctx: Context) -> str:
    """The bag's provenance as PROV-O JSON-LD (stable, sorted output).

    We write the JSON-LD document directly, with a ``@context`` that maps every
    key to its PROV-O (or RDFS) IRI, rather than building an rdflib graph and
    serialising it: rdflib's in-memory store and JSON-LD serialiser cost about
    20 ms per payload file, minutes for a capture of 10,000 files. The tests
    read the file with two independent JSON-LD processors, rdflib and pyld.
    """
    nodes = _ProvNodes(ctx).build()
    # One node per line, each written by json's C encoder: indenting every
    # value (indent=...) runs json's pure-Python encoder, about 40 us a file.
    enc = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
    context = json.dumps(CONTEXT, indent=1, sort_keys=True, ensure_ascii=False)
    graph = ",\n".join(enc.encode(nodes[k]) for k in sorted(nodes))
    return f'{{\n"@context": {context},\n"@graph": [\n{graph}\n]\n}}\n'


class _ProvNodes:
    """The PROV-O nodes of one bag, as JSON-LD node objects keyed by IRI."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.nodes: dict[str, dict[str, Any]] = {}

    def node(self, part: str, *types: str, **props: Any) -> dict[str, Any]:
        n = self.nodes.setdefault(self.ctx.iri(part), {"@id": self.ctx.iri(part)})
        if types:
            n["@type"] = sorted(set(n.get("@type", [])) | set(types))
        n.update(props)
        return n

    def link(self, node: dict[str, Any], rel: str, target: str) -> None:
        """Add one relation (the context makes its value a node reference)."""
        values = node.setdefault(rel, [])
        if self.ctx.iri(target) not in values:
            values.append(self.ctx.iri(target))

    def build(self) -> dict[str, dict[str, Any]]:
        ctx = self.ctx
        self._agents()
        capture = self.node(
            "activity/capture", "prov:Activity", label=f"web capture {ctx.capture_id}"
        )
        for key, prop in (("started", "startedAtTime"), ("ended", "endedAtTime")):
            if ctx.capture.get(key):
                capture[prop] = str(ctx.capture[key])
        self.link(capture, "wasAssociatedWith", "agent/crawler")
        self.link(capture, "wasAssociatedWith", "agent/operator")
        for i, url in enumerate(ctx.seeds, start=1):
            self.node(f"seed/{i}", "prov:Entity", "sr:SeedURL", **{"sr:url": url})
            self.link(capture, "used", f"seed/{i}")
            page = self.node(f"page/{i}", "prov:Entity", "sr:WebPage", **{"sr:url": url})
            self.link(page, "wasGeneratedBy", "activity/capture")
            self.link(page, "wasDerivedFrom", f"seed/{i}")
        self._files()
        self._renderings()
        self._bagging()
        return self.nodes

    def _agents(self) -> None:
        ctx = self.ctx
        for part, kind, label in (
            ("agent/software", "prov:SoftwareAgent", ctx.software),
            ("agent/crawler", "prov:SoftwareAgent", ctx.crawler),
            ("agent/operator", "prov:Person", ctx.operator),
            ("agent/organization", "prov:Organization", ctx.organization),
        ):
            agent = self.node(part, "prov:Agent", kind, label=label)
            if kind == "prov:SoftwareAgent" and "/" in label:  # "strongroom/0.1.0"
                agent["sr:version"] = label.rpartition("/")[2]
        operator = self.node("agent/operator", comment="pseudonym of the capture operator")
        self.link(operator, "actedOnBehalfOf", "agent/organization")

    def _files(self) -> None:
        """One entity per WARC file (generated by the capture) and per derivative."""
        ctx = self.ctx
        for f in ctx.files:
            kind = "sr:WARCFile" if f.is_warc else "sr:Derivative"
            e = self.node(f.path, "prov:Entity", kind, size=f.size, **{"sr:path": f.path})
            for a, d in sorted(f.digests.items()):
                e[f"sr:{a}"] = d
            if f.is_warc:
                self.link(e, "wasGeneratedBy", "activity/capture")
                if ctx.capture.get("ended"):
                    e["generatedAtTime"] = str(ctx.capture["ended"])

    def _renderings(self) -> None:
        """The screenshot activity of each rendered page, and what it generated."""
        ctx = self.ctx
        pages = {url: f"page/{i}" for i, url in enumerate(ctx.seeds, start=1)}
        warcs = {f.path.rsplit("/", 1)[-1]: f.path for f in ctx.files if f.is_warc}
        in_bag = {f.path for f in ctx.files}
        for i, r in enumerate(ctx.renderings, start=1):
            act = self.node(
                f"activity/screenshot/{i}",
                "prov:Activity",
                label=f"screenshot and text of {r.url}",
                endedAtTime=r.time,
            )
            self.link(act, "wasAssociatedWith", "agent/software")
            page, warc = pages.get(r.url), warcs.get(r.warc_file)
            if warc is not None:
                self.link(act, "used", warc)
            for path in r.files:
                if path not in in_bag:
                    continue
                d = self.node(path, generatedAtTime=r.time)
                self.link(d, "wasGeneratedBy", f"activity/screenshot/{i}")
                for source in (page, warc):
                    if source is not None:
                        self.link(d, "wasDerivedFrom", source)

    def _bagging(self) -> None:
        ctx = self.ctx
        bagging = self.node(
            "activity/bagging",
            "prov:Activity",
            label="message digest calculation and packing",
            startedAtTime=ctx.digest_started,
            endedAtTime=ctx.packed,
        )
        self.link(bagging, "wasAssociatedWith", "agent/software")
        bag = self.node(
            "bag", "prov:Entity", "sr:Bag", label=ctx.bag_id, generatedAtTime=ctx.packed
        )
        self.link(bag, "wasGeneratedBy", "activity/bagging")
        self.link(bag, "wasAttributedTo", "agent/organization")
        # plain lists, not self.link: 10,000 files must not cost 10,000 list scans
        iris = [ctx.iri(f.path) for f in ctx.files]
        bagging["used"] = iris
        bag["hadMember"] = iris  # the same list: written twice, built once
