"""PREMIS 3.0 XML of a bag (``tags/premis.xml``), written with lxml.

PREMIS is exchanged as XML, so this is what Archivematica, DSpace or Fedora
read. One ``<premis>`` document holds, in the schema's order:

* an object per payload file: its fixity (the same algorithms and digests as
  the bag's manifests), size and format, with the PRONOM id where one exists;
  a derivative also has a ``derivation`` relationship to the WARC it was
  rendered from;
* the events of the bag's making: capture, validation (the strict WARC pass),
  message digest calculation, derivation (each screenshot and text) and
  creation (the packing into a bag), each with outcome, agents and objects;
* the agents: the software with its version, the crawler, the renderer, the
  organisation and the operator (a pseudonym);
* the rights: one statement for the access level (and embargo), and one per
  legal designation of a publisher that governs access.

We build it with lxml rather than metsrw's premisrw: premisrw targets PREMIS
inside METS and its constructors take nested tuples that are harder to read
than the element tree itself; the tests validate the result against the
PREMIS 3.0 schema when it is available, and structurally otherwise.
"""

from __future__ import annotations

import os
import re
from typing import Any

from strongroom.bag.provenance import Context, FileFacts

PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PREMIS_NS} https://www.loc.gov/standards/premis/v3/premis-v3-0.xsd"
# hashlib names -> the PREMIS messageDigestAlgorithm vocabulary (id.loc.gov)
PREMIS_ALGORITHMS = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
}
# file name suffix -> (format name, version, PRONOM PUID); None where PRONOM has none
FORMATS: tuple[tuple[str, tuple[str, str, str | None]], ...] = (
    (".warc.gz", ("WARC", "1.1", "fmt/1355")),
    (".warc", ("WARC", "1.1", "fmt/1355")),
    (".png", ("Portable Network Graphics", "1.2", "fmt/13")),
    (".jpg", ("JPEG File Interchange Format", "1.02", "fmt/44")),
    (".jpeg", ("JPEG File Interchange Format", "1.02", "fmt/44")),
    (".pdf", ("Acrobat PDF 1.7 - Portable Document Format", "1.7", "fmt/276")),
    (".txt", ("Plain Text File", "", "x-fmt/111")),
    (".json", ("JSON Data Interchange Format", "", "fmt/817")),
    (".html", ("Hypertext Markup Language", "5", "fmt/471")),
    (".csv", ("Comma Separated Values", "", "x-fmt/18")),
)
ID_TYPE = "bag-path"  # objects are named by their path inside the bag


def file_format(path: str) -> tuple[str, str, str | None]:
    """(format name, version, PRONOM id or None) from a file name."""
    low = path.lower()
    for suffix, fmt in FORMATS:
        if low.endswith(suffix):
            return fmt
    return ("unknown", "", None)


class _Doc:
    """A tiny element builder in the PREMIS namespace."""

    def __init__(self) -> None:
        from lxml import etree

        self.etree = etree
        self.root = etree.Element(
            f"{{{PREMIS_NS}}}premis", nsmap={"premis": PREMIS_NS, "xsi": XSI_NS}
        )
        self.root.set("version", "3.0")
        self.root.set(f"{{{XSI_NS}}}schemaLocation", SCHEMA_LOCATION)

    def el(self, parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
        e = self.etree.SubElement(parent, f"{{{PREMIS_NS}}}{name}")
        for k, v in attrs.items():
            e.set(k, v)
        if text is not None:
            e.text = text
        return e

    def pair(self, parent: Any, name: str, kind: str, value: str, prefix: str = "") -> Any:
        """``<nameIdentifier><...Type/><...Value/></...>`` as PREMIS spells identifiers."""
        stem = prefix or name
        e = self.el(parent, name)
        self.el(e, f"{stem}Type", kind)
        self.el(e, f"{stem}Value", value)
        return e

    def flush(self, fh: Any) -> None:
        """Write the finished top-level elements out (to a binary file) and forget them."""
        for child in list(self.root):
            self.root.remove(child)
            fh.write(self.etree.tostring(child, encoding="UTF-8", pretty_print=True))


def write_premis(ctx: Context, out: Any) -> None:
    """Write the bag's PREMIS 3.0 document (UTF-8 XML) to ``out``, a path or binary file.

    The document is streamed, one top-level element at a time, so 10,000
    objects never sit in memory at once. The per-file parts (an object per
    file, the representation's list of files) are written from templates
    (:func:`_object_text`), byte for byte what lxml writes: building them as
    lxml elements cost about 100 us a file, most of a small-file bag's time.
    Any text a template cannot take as it is goes through lxml instead.
    """
    from strongroom.core.libxml import LOCK

    # lxml builds it: libxml2 one thread at a time (a watch's workers may
    # extract page text while its recording thread bags a recapture).
    with LOCK:
        if isinstance(out, str | os.PathLike):
            with open(out, "xb") as fh:
                _write_premis(ctx, fh)
        else:
            _write_premis(ctx, out)


def _write_premis(ctx: Context, fh: Any) -> None:
    doc = _Doc()
    fh.write(_HEAD.encode())
    _representation(doc, ctx, fh)
    derived_from = {p: r.warc_file for r in ctx.renderings for p in r.files}
    warc_paths = {f.path.rsplit("/", 1)[-1]: f.path for f in ctx.files if f.is_warc}
    for f in ctx.files:
        source = warc_paths.get(derived_from.get(f.path, ""))
        text = _object_text(f, source)
        if text is None:
            _object(doc, f, source)
            doc.flush(fh)
        else:
            fh.write(text.encode())
    _events(doc, ctx)
    _agents(doc, ctx)
    _rights(doc, ctx)
    doc.flush(fh)
    fh.write(b"</premis:premis>")


def premis_xml(ctx: Context) -> bytes:
    """The bag's PREMIS 3.0 document as bytes (for callers that want it in memory)."""
    import io

    buf = io.BytesIO()
    write_premis(ctx, buf)
    return buf.getvalue()


BAG = "bag:"  # prefix of the representation's identifier in event and rights links


def _representation(doc: _Doc, ctx: Context, fh: Any) -> None:
    """The bag as a PREMIS representation that includes every file.

    Events and rights that concern the whole bag link to it once, rather than
    to each of (possibly) 10,000 files.
    """
    if _plain(ctx.bag_id) and all(_plain(f.path) for f in ctx.files):
        fh.write(
            (
                f'{_OPEN}premis:representation">\n'
                f"{_pair('objectIdentifier', 'bag', ctx.bag_id, 1)}"
                "  <premis:relationship>\n"
                "    <premis:relationshipType>structural</premis:relationshipType>\n"
                "    <premis:relationshipSubType>includes</premis:relationshipSubType>\n"
            ).encode()
        )
        for f in ctx.files:
            fh.write(_pair("relatedObjectIdentifier", ID_TYPE, f.path, 2).encode())
        fh.write(b"  </premis:relationship>\n</premis:object>\n")
        return
    rep = doc.el(doc.root, "object")
    rep.set(f"{{{XSI_NS}}}type", "premis:representation")
    doc.pair(rep, "objectIdentifier", "bag", ctx.bag_id)
    rel = doc.el(rep, "relationship")
    doc.el(rel, "relationshipType", "structural")
    doc.el(rel, "relationshipSubType", "includes")
    for f in ctx.files:
        doc.pair(rel, "relatedObjectIdentifier", ID_TYPE, f.path)
    doc.flush(fh)


# --- templates: the per-file parts, as lxml would write them ------------------------
_NS_DECL = f'xmlns:premis="{PREMIS_NS}" xmlns:xsi="{XSI_NS}"'
_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<premis:premis {_NS_DECL} version="3.0" xsi:schemaLocation="{SCHEMA_LOCATION}">\n'
)
_OPEN = f'<premis:object {_NS_DECL} xsi:type="'
# Text a template writes as it is: no markup characters (& < > need escaping), no
# control characters (XML refuses them, lxml says so), no lone surrogates.
_PLAIN = re.compile(r"[^&<>\x00-\x1f\x7f\ud800-\udfff]*")


def _plain(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None


def _pair(name: str, kind: str, value: str, depth: int) -> str:
    pad = "  " * depth
    return (
        f"{pad}<premis:{name}>\n"
        f"{pad}  <premis:{name}Type>{kind}</premis:{name}Type>\n"
        f"{pad}  <premis:{name}Value>{value}</premis:{name}Value>\n"
        f"{pad}</premis:{name}>\n"
    )


def _object_text(f: FileFacts, source: str | None) -> str | None:
    """A file's ``<object>`` as lxml would write it, or None when its path (or its
    source's) needs escaping: then lxml writes it (:func:`_object`)."""
    if not _plain(f.path) or (source is not None and not _plain(source)):
        return None
    parts = [
        f'{_OPEN}premis:file">\n',
        _pair("objectIdentifier", ID_TYPE, f.path, 1),
        "  <premis:objectCharacteristics>\n",
        f"    <premis:compositionLevel>{1 if f.path.endswith('.gz') else 0}"
        "</premis:compositionLevel>\n",
    ]
    for a, d in sorted(f.digests.items()):
        parts.append(
            "    <premis:fixity>\n"
            f"      <premis:messageDigestAlgorithm>{PREMIS_ALGORITHMS[a]}"
            "</premis:messageDigestAlgorithm>\n"
            f"      <premis:messageDigest>{d}</premis:messageDigest>\n"
            "      <premis:messageDigestOriginator>strongroom</premis:messageDigestOriginator>\n"
            "    </premis:fixity>\n"
        )
    parts.append(f"    <premis:size>{f.size}</premis:size>\n")
    parts.append(_FORMAT_TEXT[file_format(f.path)])
    parts.append("  </premis:objectCharacteristics>\n")
    if source:
        parts.append(
            "  <premis:relationship>\n"
            "    <premis:relationshipType>derivation</premis:relationshipType>\n"
            "    <premis:relationshipSubType>has source</premis:relationshipSubType>\n"
            f"{_pair('relatedObjectIdentifier', ID_TYPE, source, 2)}"
            "  </premis:relationship>\n"
        )
    parts.append("</premis:object>\n")
    return "".join(parts)


def _format_text(fmt: tuple[str, str, str | None]) -> str:
    name, version, puid = fmt
    out = "    <premis:format>\n      <premis:formatDesignation>\n"
    out += f"        <premis:formatName>{name}</premis:formatName>\n"
    if version:
        out += f"        <premis:formatVersion>{version}</premis:formatVersion>\n"
    out += "      </premis:formatDesignation>\n"
    if puid:
        out += (
            "      <premis:formatRegistry>\n"
            "        <premis:formatRegistryName>PRONOM</premis:formatRegistryName>\n"
            f"        <premis:formatRegistryKey>{puid}</premis:formatRegistryKey>\n"
            "        <premis:formatRegistryRole>specification</premis:formatRegistryRole>\n"
            "      </premis:formatRegistry>\n"
        )
    return out + "    </premis:format>\n"


_FORMAT_TEXT = {fmt: _format_text(fmt) for _s, fmt in FORMATS} | {
    ("unknown", "", None): _format_text(("unknown", "", None))
}


def _link_object(doc: _Doc, parent: Any, ref: str) -> None:
    if ref.startswith(BAG):
        doc.pair(parent, "linkingObjectIdentifier", "bag", ref[len(BAG) :])
    else:
        doc.pair(parent, "linkingObjectIdentifier", ID_TYPE, ref)


def _object(doc: _Doc, f: FileFacts, source: str | None) -> None:
    obj = doc.el(doc.root, "object")
    obj.set(f"{{{XSI_NS}}}type", "premis:file")
    doc.pair(obj, "objectIdentifier", ID_TYPE, f.path)
    ch = doc.el(obj, "objectCharacteristics")
    doc.el(ch, "compositionLevel", "1" if f.path.endswith(".gz") else "0")
    for a, d in sorted(f.digests.items()):
        fx = doc.el(ch, "fixity")
        doc.el(fx, "messageDigestAlgorithm", PREMIS_ALGORITHMS[a])
        doc.el(fx, "messageDigest", d)
        doc.el(fx, "messageDigestOriginator", "strongroom")
    doc.el(ch, "size", str(f.size))
    name, version, puid = file_format(f.path)
    fmt = doc.el(ch, "format")
    des = doc.el(fmt, "formatDesignation")
    doc.el(des, "formatName", name)
    if version:
        doc.el(des, "formatVersion", version)
    if puid:
        reg = doc.el(fmt, "formatRegistry")
        doc.el(reg, "formatRegistryName", "PRONOM")
        doc.el(reg, "formatRegistryKey", puid)
        doc.el(reg, "formatRegistryRole", "specification")
    if source:
        rel = doc.el(obj, "relationship")
        doc.el(rel, "relationshipType", "derivation")
        doc.el(rel, "relationshipSubType", "has source")
        doc.pair(rel, "relatedObjectIdentifier", ID_TYPE, source)


def _event(
    doc: _Doc,
    ctx: Context,
    kind: str,
    slug: str,
    when: str,
    detail: str,
    agents: list[tuple[str, str]],
    objects: list[str],
    outcome: str = "success",
) -> None:
    ev = doc.el(doc.root, "event")
    doc.pair(ev, "eventIdentifier", "local", f"{ctx.bag_id}/{slug}")
    doc.el(ev, "eventType", kind)
    doc.el(ev, "eventDateTime", when or "unknown")
    info = doc.el(ev, "eventDetailInformation")
    doc.el(info, "eventDetail", detail)
    out = doc.el(ev, "eventOutcomeInformation")
    doc.el(out, "eventOutcome", outcome)
    for agent, role in agents:
        la = doc.pair(ev, "linkingAgentIdentifier", "local", agent)
        doc.el(la, "linkingAgentRole", role)
    for path in objects:
        _link_object(doc, ev, path)


def _events(doc: _Doc, ctx: Context) -> None:
    everything = [BAG + ctx.bag_id]  # the representation: every file
    in_bag = {f.path for f in ctx.files}
    warcs = [f.path for f in ctx.files if f.is_warc]
    status = str(ctx.capture.get("status") or "complete")
    _event(
        doc, ctx, "capture", "capture", str(ctx.capture.get("started") or ""),
        f"web capture {ctx.capture_id} of {len(ctx.seeds)} seed(s): {' '.join(ctx.seeds)}; "
        f"ended {ctx.capture.get('ended') or 'unknown'}",
        [("crawler", "executing program"), ("operator", "implementer"),
         ("organization", "authorizer")],
        warcs,
        "success" if status == "complete" else status,
    )  # fmt: skip
    _event(
        doc, ctx, "validation", "validation", ctx.digest_ended,
        "each WARC gunzipped strictly (every member's CRC and length) and framed record "
        "by record against WARC/1.x before the bag was published",
        [("software", "executing program")], warcs,
    )  # fmt: skip
    algos = ", ".join(PREMIS_ALGORITHMS[a] for a in ctx.algorithms)
    _event(
        doc, ctx, "message digest calculation", "message-digest-calculation", ctx.digest_ended,
        f"{algos} computed while reading each file once, from {ctx.digest_started}",
        [("software", "executing program")], everything,
    )  # fmt: skip
    for i, r in enumerate(ctx.renderings, start=1):
        sources = [p for p in warcs if p.endswith("/" + r.warc_file)]
        _event(
            doc, ctx, "derivation", f"derivation/{i}", r.time,
            f"screenshot and text of {r.url} rendered from its WARC record, offline",
            [("software", "executing program"), ("renderer", "rendering program")],
            sources + [p for p in r.files if p in in_bag],
        )  # fmt: skip
    _ingestion(doc, ctx, everything)
    _event(
        doc, ctx, "creation", "creation", ctx.packed,
        f"packed as BagIt 1.0 bag {ctx.bag_id}",
        [("software", "executing program"), ("organization", "authorizer")], everything,
    )  # fmt: skip


def _ingestion(doc: _Doc, ctx: Context, objects: list[str]) -> None:
    """An ``ingestion`` event for a bag imported from another tool's WARCs or WACZ."""
    ingest = ctx.capture.get("ingest")
    if not isinstance(ingest, dict):
        return
    received = [
        f"{r.get('name')} (sha256 {r.get('sha256')}, {r.get('size')} bytes)"
        for r in ingest.get("received") or []
        if isinstance(r, dict)
    ]
    tool = str(ingest.get("source_tool") or "unknown software")
    damage = [str(d) for d in ingest.get("damage") or []][:50]
    _event(
        doc, ctx, "ingestion", "ingestion", str(ingest.get("imported") or ctx.packed),
        f"imported from files made by {tool}: {'; '.join(received)}",
        [("crawler", "source program"), ("software", "executing program"),
         ("operator", "implementer")],
        objects,
        "success with damage" if damage else "success",
    )  # fmt: skip
    if damage:
        out = doc.root.findall(f"{{{PREMIS_NS}}}event")[-1].find(
            f"{{{PREMIS_NS}}}eventOutcomeInformation"
        )
        detail = doc.el(out, "eventOutcomeDetail")
        reason = ingest.get("accepted_damage_reason")
        doc.el(detail, "eventOutcomeDetailNote", "; ".join([*damage, f"accepted: {reason}"]))


def _agents(doc: _Doc, ctx: Context) -> None:
    renderers = sorted({r.renderer for r in ctx.renderings if r.renderer})
    rows: list[tuple[str, str, str, str]] = [
        ("software", ctx.software, "software", ""),
        ("crawler", ctx.crawler, "software", ""),
        ("operator", ctx.operator, "person", "pseudonym of the capture operator"),
        ("organization", ctx.organization, "organization", ""),
    ]
    if ctx.renderings:
        rows.append(("renderer", ", ".join(renderers) or "Chromium", "software", ""))
    for ident, name, kind, note in rows:
        ag = doc.el(doc.root, "agent")
        doc.pair(ag, "agentIdentifier", "local", ident)
        doc.el(ag, "agentName", name)
        doc.el(ag, "agentType", kind)
        if kind == "software" and "/" in name:
            doc.el(ag, "agentVersion", name.rpartition("/")[2])
        if note:
            doc.el(ag, "agentNote", note)


_ACCESS_NOTES = {
    "public": "open to the public: replay, WACZ export and sharing under the archive's policy",
    "restricted": "staff only: replay and export need the staff header; shared only with "
    "partners the policy allows",
    "dark": "dark: kept for preservation only; no replay, export or sharing",
}


def _rights(doc: _Doc, ctx: Context) -> None:
    rights = doc.el(doc.root, "rights")
    st = doc.el(rights, "rightsStatement")
    doc.pair(st, "rightsStatementIdentifier", "local", f"{ctx.bag_id}/access")
    doc.el(st, "rightsBasis", "Other")
    other = doc.el(st, "otherRightsInformation")
    doc.el(other, "otherRightsBasis", "Policy")
    doc.el(other, "otherRightsNote", f"access level: {ctx.access}")
    granted = doc.el(st, "rightsGranted")
    doc.el(granted, "act", "disseminate")
    doc.el(granted, "restriction", "Allow" if ctx.access == "public" else "Disallow")
    if ctx.embargo_until:
        term = doc.el(granted, "termOfRestriction")
        doc.el(term, "startDate", ctx.packed[:10])
        doc.el(term, "endDate", ctx.embargo_until)
    doc.el(granted, "rightsGrantedNote", _ACCESS_NOTES.get(ctx.access, ctx.access))
    _link_object(doc, st, BAG + ctx.bag_id)
    for i, d in enumerate(ctx.designations, start=1):
        st = doc.el(rights, "rightsStatement")
        doc.pair(st, "rightsStatementIdentifier", "local", f"{ctx.bag_id}/designation/{i}")
        doc.el(st, "rightsBasis", "Statute")
        stat = doc.el(st, "statuteInformation")
        doc.el(stat, "statuteJurisdiction", d.jurisdiction or "unknown")
        doc.el(stat, "statuteCitation", d.label)
        doc.el(stat, "statuteNote", f"publisher designated {d.kind}; access is {ctx.access}")
        _link_object(doc, st, BAG + ctx.bag_id)
