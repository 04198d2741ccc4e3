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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROV_NS = "http://www.w3.org/ns/prov#"
SR_NS = "urn:strongroom:vocab#"
MAX_DERIVATIVE_JSON = 1024 * 1024  # a rendering event is a few hundred bytes


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
        tail = "/".join(quote(p, safe="/:._-") for p in parts)
        return f"urn:strongroom:{quote(self.bag_id, safe='._-')}/{tail}"


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


def prov_jsonld(ctx: Context) -> str:
    """The bag's provenance as PROV-O JSON-LD (stable, sorted output)."""
    return _ProvGraph(ctx).build()


class _ProvGraph:
    """Builds the PROV-O graph of one bag with rdflib."""

    def __init__(self, ctx: Context) -> None:
        from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef

        self.ctx = ctx
        self.RDF, self.RDFS, self.XSD, self.Literal, self.URIRef = RDF, RDFS, XSD, Literal, URIRef
        self.prov, self.sr = Namespace(PROV_NS), Namespace(SR_NS)
        self.g = Graph()
        self.g.bind("prov", self.prov)
        self.g.bind("sr", self.sr)

    def node(self, *parts: str) -> Any:
        return self.URIRef(self.ctx.iri(*parts))

    def when(self, value: str) -> Any:
        return self.Literal(value, datatype=self.XSD.dateTime)

    def text(self, value: str) -> Any:
        return self.Literal(value)

    def add(self, s: Any, p: Any, o: Any) -> None:
        self.g.add((s, p, o))

    def thing(self, s: Any, *types: Any) -> Any:
        for t in types:
            self.add(s, self.RDF.type, t)
        return s

    def build(self) -> str:
        ctx, prov = self.ctx, self.prov
        self._agents()
        capture = self.thing(self.node("activity/capture"), prov.Activity)
        self.add(capture, self.RDFS.label, self.text(f"web capture {ctx.capture_id}"))
        for key, pred in (("started", prov.startedAtTime), ("ended", prov.endedAtTime)):
            if ctx.capture.get(key):
                self.add(capture, pred, self.when(str(ctx.capture[key])))
        self.add(capture, prov.wasAssociatedWith, self.node("agent/crawler"))
        self.add(capture, prov.wasAssociatedWith, self.node("agent/operator"))
        pages = self._pages(capture)
        warcs = self._files(capture)
        self._renderings(pages, warcs)
        self._bagging()
        XSD, RDFS = self.XSD, self.RDFS
        context = {"prov": PROV_NS, "sr": SR_NS, "xsd": str(XSD), "rdfs": str(RDFS)}
        data = json.loads(self.g.serialize(format="json-ld", context=context, sort_keys=True))
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def _agents(self) -> None:
        ctx, prov = self.ctx, self.prov
        for part, kind, label in (
            ("agent/software", prov.SoftwareAgent, ctx.software),
            ("agent/crawler", prov.SoftwareAgent, ctx.crawler),
            ("agent/operator", prov.Person, ctx.operator),
            ("agent/organization", prov.Organization, ctx.organization),
        ):
            agent = self.thing(self.node(part), prov.Agent, kind)
            self.add(agent, self.RDFS.label, self.text(label))
            if kind == prov.SoftwareAgent and "/" in label:  # "strongroom/0.1.0"
                self.add(agent, self.sr.version, self.text(label.rpartition("/")[2]))
        operator = self.node("agent/operator")
        self.add(operator, self.RDFS.comment, self.text("pseudonym of the capture operator"))
        self.add(operator, prov.actedOnBehalfOf, self.node("agent/organization"))

    def _pages(self, capture: Any) -> dict[str, Any]:
        """One entity per seed URL (which the capture used) and per captured page."""
        prov, sr = self.prov, self.sr
        pages: dict[str, Any] = {}
        for i, url in enumerate(self.ctx.seeds, start=1):
            seed = self.thing(self.node(f"seed/{i}"), prov.Entity, sr.SeedURL)
            self.add(seed, sr.url, self.text(url))
            self.add(capture, prov.used, seed)
            page = self.thing(self.node(f"page/{i}"), prov.Entity, sr.WebPage)
            self.add(page, sr.url, self.text(url))
            self.add(page, prov.wasGeneratedBy, capture)
            self.add(page, prov.wasDerivedFrom, seed)
            pages[url] = page
        return pages

    def _files(self, capture: Any) -> dict[str, Any]:
        """One entity per WARC file (generated by the capture) and per derivative."""
        ctx, prov, sr = self.ctx, self.prov, self.sr
        warcs: dict[str, Any] = {}
        for f in ctx.files:
            e = self.thing(
                self.node(f.path), prov.Entity, sr.WARCFile if f.is_warc else sr.Derivative
            )
            self.add(e, sr.path, self.text(f.path))
            self.add(e, sr.size, self.Literal(f.size, datatype=self.XSD.integer))
            for a, d in sorted(f.digests.items()):
                self.add(e, sr[a], self.text(d))
            if f.is_warc:
                self.add(e, prov.wasGeneratedBy, capture)
                if ctx.capture.get("ended"):
                    self.add(e, prov.generatedAtTime, self.when(str(ctx.capture["ended"])))
                warcs[f.path.rsplit("/", 1)[-1]] = e
        return warcs

    def _renderings(self, pages: dict[str, Any], warcs: dict[str, Any]) -> None:
        """The screenshot activity of each rendered page, and what it generated."""
        prov = self.prov
        in_bag = {f.path for f in self.ctx.files}
        for i, r in enumerate(self.ctx.renderings, start=1):
            act = self.thing(self.node(f"activity/screenshot/{i}"), prov.Activity)
            self.add(act, self.RDFS.label, self.text(f"screenshot and text of {r.url}"))
            self.add(act, prov.endedAtTime, self.when(r.time))
            self.add(act, prov.wasAssociatedWith, self.node("agent/software"))
            page, warc = pages.get(r.url), warcs.get(r.warc_file)
            if warc is not None:
                self.add(act, prov.used, warc)
            for path in r.files:
                if path not in in_bag:
                    continue
                d = self.node(path)
                self.add(d, prov.wasGeneratedBy, act)
                self.add(d, prov.generatedAtTime, self.when(r.time))
                for source in (page, warc):
                    if source is not None:
                        self.add(d, prov.wasDerivedFrom, source)

    def _bagging(self) -> None:
        ctx, prov = self.ctx, self.prov
        bagging = self.thing(self.node("activity/bagging"), prov.Activity)
        self.add(bagging, self.RDFS.label, self.text("message digest calculation and packing"))
        self.add(bagging, prov.startedAtTime, self.when(ctx.digest_started))
        self.add(bagging, prov.endedAtTime, self.when(ctx.packed))
        self.add(bagging, prov.wasAssociatedWith, self.node("agent/software"))
        bag = self.thing(self.node("bag"), prov.Entity, self.sr.Bag)
        self.add(bag, self.RDFS.label, self.text(ctx.bag_id))
        self.add(bag, prov.wasGeneratedBy, bagging)
        self.add(bag, prov.generatedAtTime, self.when(ctx.packed))
        self.add(bag, prov.wasAttributedTo, self.node("agent/organization"))
        for f in ctx.files:
            self.add(bagging, prov.used, self.node(f.path))
            self.add(bag, prov.hadMember, self.node(f.path))
