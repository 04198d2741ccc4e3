"""Provenance other systems read: PROV-O JSON-LD (rdflib, pyld) and PREMIS 3.0 XML."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import rdflib
from bagkit import CAPTURE_ID, RFERL, make_capture
from lxml import etree
from pyld import jsonld

from strongroom.bag import make as bagging
from strongroom.bag import manifest as manifests
from strongroom.core.archive import Archive

PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
P = "{http://www.loc.gov/premis/v3}"
NS = {"p": "http://www.loc.gov/premis/v3"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WARC = f"{CAPTURE_ID}-00000.warc.gz"


def rendering_event(slug: str = "p1") -> bytes:
    """The rendering event screenshots write beside a page's derivatives."""
    return json.dumps(
        {
            "premis:eventType": "rendering",
            "premis:eventDateTime": "2024-02-20T10:17:00Z",
            "premis:linkingAgent": [{"name": "Chromium 120", "role": "rendering program"}],
            "source": {"warc_file": WARC, "target_uri": RFERL, "record_id": "<urn:uuid:1>"},
            "derivatives": [{"file": f"{slug}.png"}, {"file": f"{slug}.txt"}],
        }
    ).encode()


@pytest.fixture
def bag(archive_dir: Path, tmp_path: Path) -> Path:
    make_capture(
        archive_dir,
        derivatives={"p1.png": b"\x89PNG\r\n", "p1.txt": b"text", "p1.json": rendering_event()},
    )
    return bagging.bag_capture(
        Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path / "m", algorithms=("sha512", "md5")
    ).path


def test_prov_jsonld_is_prov_o_for_rdflib_and_pyld(bag):
    text = (bag / "tags/prov.jsonld").read_text()
    g = rdflib.Graph().parse(data=text, format="json-ld")
    prov_triples = [t for t in g if str(t[1]).startswith(str(PROV)) or t[2] in set(PROV)]
    assert len(prov_triples) > 30

    def typed(kind):
        return {str(s) for s in g.subjects(rdflib.RDF.type, PROV[kind])}

    entities, activities = typed("Entity"), typed("Activity")
    assert any(e.endswith(f"data/warc/{WARC}") for e in entities)
    assert any(e.endswith("data/derivatives/p1.png") for e in entities)
    assert any(e.endswith("/page/1") for e in entities)
    assert {a.rsplit("/", 2)[-2] + "/" + a.rsplit("/", 1)[-1] for a in activities} >= {
        "activity/capture",
        "activity/bagging",
        "screenshot/1",
    }
    assert typed("SoftwareAgent") and typed("Person") and typed("Organization")
    labels = {str(o) for o in g.objects(None, rdflib.RDFS.label)}
    assert {"night-owl", "strongroom/0.1.0"} <= labels
    used = {p.split("#")[1] for p in map(str, g.predicates()) if p.startswith(str(PROV))}
    assert used >= {
        "wasGeneratedBy",
        "used",
        "wasAssociatedWith",
        "wasDerivedFrom",
        "startedAtTime",
        "endedAtTime",
        "generatedAtTime",
    }
    png = next(rdflib.URIRef(e) for e in entities if e.endswith("p1.png"))
    sources = {str(o) for o in g.objects(png, PROV.wasDerivedFrom)}
    assert any(s.endswith("/page/1") for s in sources) and any(s.endswith(WARC) for s in sources)

    # A second, independent JSON-LD processor reads the same triples.
    quads = jsonld.to_rdf(json.loads(text), {"format": "application/n-quads"})
    assert len(quads.splitlines()) == len(g)
    assert "<http://www.w3.org/ns/prov#wasGeneratedBy>" in quads


def test_premis_xml_objects_have_the_manifest_fixity_size_and_pronom_format(bag):
    doc = etree.parse(str(bag / "tags/premis.xml"))
    root = doc.getroot()
    assert root.tag == f"{P}premis" and root.get("version") == "3.0"
    sha512 = manifests.parse_manifest((bag / "manifest-sha512.txt").read_text())
    md5 = manifests.parse_manifest((bag / "manifest-md5.txt").read_text())
    objects = {
        o.findtext("p:objectIdentifier/p:objectIdentifierValue", namespaces=NS): o
        for o in root.findall("p:object", NS)
    }
    assert set(objects) == set(sha512) | {bag.name}  # every payload file, and the bag
    bag_obj = objects.pop(bag.name)  # the representation (its identifier type is "bag")
    assert bag_obj.get(f"{{{XSI}}}type") == "premis:representation"
    included = {x.text for x in bag_obj.iterfind(".//p:relatedObjectIdentifierValue", NS)}
    assert included == set(sha512)
    for path, obj in objects.items():
        fixity = {
            f.findtext("p:messageDigestAlgorithm", namespaces=NS): f.findtext(
                "p:messageDigest", namespaces=NS
            )
            for f in obj.iterfind(".//p:fixity", NS)
        }
        assert fixity == {"SHA-512": sha512[path], "MD5": md5[path]}
        size = obj.findtext(".//p:size", namespaces=NS)
        assert size == str(os.path.getsize(bag / path))
    puid = {p: o.findtext(".//p:formatRegistryKey", namespaces=NS) for p, o in objects.items()}
    assert puid[f"data/warc/{WARC}"] == "fmt/1355"
    assert puid["data/derivatives/p1.png"] == "fmt/13"
    assert puid["data/derivatives/p1.txt"] == "x-fmt/111"
    png = objects["data/derivatives/p1.png"]
    assert png.findtext("p:relationship/p:relationshipType", namespaces=NS) == "derivation"
    assert png.findtext(".//p:relatedObjectIdentifierValue", namespaces=NS) == f"data/warc/{WARC}"


def test_premis_xml_events_agents_and_rights(bag):
    root = etree.parse(str(bag / "tags/premis.xml")).getroot()
    events = root.findall("p:event", NS)
    kinds = [e.findtext("p:eventType", namespaces=NS) for e in events]
    assert kinds == [
        "capture",
        "validation",
        "message digest calculation",
        "derivation",
        "creation",
    ]
    for e in events:
        assert e.findtext(".//p:eventOutcome", namespaces=NS) == "success"
        assert e.findall("p:linkingAgentIdentifier", NS) and e.findall(
            "p:linkingObjectIdentifier", NS
        )
    derivation = events[3]
    linked = {x.text for x in derivation.iterfind(".//p:linkingObjectIdentifierValue", NS)}
    assert linked == {f"data/warc/{WARC}", "data/derivatives/p1.png", "data/derivatives/p1.txt"}
    names = {a.findtext("p:agentName", namespaces=NS) for a in root.findall("p:agent", NS)}
    assert {"night-owl", "Org", "strongroom/0.1.0", "Chromium 120"} <= names
    statements = root.findall("p:rights/p:rightsStatement", NS)
    assert [s.findtext("p:rightsBasis", namespaces=NS) for s in statements] == ["Other", "Statute"]
    note = statements[0].findtext(".//p:otherRightsNote", namespaces=NS)
    assert note == "access level: restricted"
    assert statements[0].findtext(".//p:restriction", namespaces=NS) == "Disallow"
    assert statements[1].findtext(".//p:statuteJurisdiction", namespaces=NS) == "RU"
    assert "RFE/RL" in statements[1].findtext(".//p:statuteCitation", namespaces=NS)


def premis_xsd() -> Path | None:
    """The PREMIS 3.0 schema, where this machine has a copy.

    The schema is the Library of Congress's; it is not committed here (the
    project ships no third-party files it fetched), so the test looks for
    ``premis-v3-0.xsd`` in ``$STRONGROOM_PREMIS_XSD`` or the shared folder
    beside the checkout, and falls back to the structural check below.
    """
    root = Path(__file__).resolve().parents[2]
    candidates = [os.environ.get("STRONGROOM_PREMIS_XSD", "")]
    for folder in (root.parent / "shared", Path("/work/shared")):
        candidates.append(str(folder / "premis-v3-0.xsd"))
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


# The PREMIS 3.0 data dictionary's required structure, in schema order, for
# what strongroom writes (the structural check when the XSD is not at hand).
STRUCTURE = {
    "premis": ["object+", "event*", "agent*", "rights*"],
    "object": ["objectIdentifier+", "objectCharacteristics*", "relationship*"],
    "objectIdentifier": ["objectIdentifierType", "objectIdentifierValue"],
    "objectCharacteristics": ["compositionLevel", "fixity*", "size", "format+"],
    "fixity": ["messageDigestAlgorithm", "messageDigest", "messageDigestOriginator"],
    "format": ["formatDesignation", "formatRegistry*"],
    "formatDesignation": ["formatName", "formatVersion*"],
    "formatRegistry": ["formatRegistryName", "formatRegistryKey", "formatRegistryRole"],
    "relationship": ["relationshipType", "relationshipSubType", "relatedObjectIdentifier+"],
    "event": [
        "eventIdentifier",
        "eventType",
        "eventDateTime",
        "eventDetailInformation*",
        "eventOutcomeInformation*",
        "linkingAgentIdentifier*",
        "linkingObjectIdentifier*",
    ],
    "linkingAgentIdentifier": [
        "linkingAgentIdentifierType",
        "linkingAgentIdentifierValue",
        "linkingAgentRole*",
    ],
    "agent": ["agentIdentifier+", "agentName", "agentType", "agentVersion*", "agentNote*"],
    "rights": ["rightsStatement+"],
    "rightsStatement": [
        "rightsStatementIdentifier",
        "rightsBasis",
        "statuteInformation*",
        "otherRightsInformation*",
        "rightsGranted*",
        "linkingObjectIdentifier*",
    ],
    "rightsGranted": ["act", "restriction*", "termOfRestriction*", "rightsGrantedNote*"],
}


def structural_problems(el: etree._Element) -> list[str]:
    name = el.tag.removeprefix(P)
    problems = [] if el.tag.startswith(P) else [f"{el.tag}: not in the PREMIS 3 namespace"]
    rule = STRUCTURE.get(name)
    if rule is not None:
        kids = [c.tag.removeprefix(P) for c in el]
        i = 0
        for spec in rule:
            want, many = spec.rstrip("+*"), spec[-1] in "+*"
            n = 0
            while i < len(kids) and kids[i] == want and (many or n == 0):
                i, n = i + 1, n + 1
            if n == 0 and not spec.endswith("*"):
                problems.append(f"{name}: missing {want}")
        if i != len(kids):
            problems.append(f"{name}: unexpected {kids[i]} (out of order or not allowed)")
    for c in el:
        problems += structural_problems(c)
    return problems


def test_premis_xml_is_valid_premis_3(bag):
    doc = etree.parse(str(bag / "tags/premis.xml"))
    assert structural_problems(doc.getroot()) == []
    kinds = [o.get(f"{{{XSI}}}type") for o in doc.getroot().findall("p:object", NS)]
    assert kinds[0] == "premis:representation" and set(kinds[1:]) == {"premis:file"}
    xsd = premis_xsd()
    if xsd is None:
        pytest.skip("PREMIS 3.0 XSD not on this machine: structural check only (above)")
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(doc), schema.error_log


def test_structural_check_catches_a_misordered_document():
    bad = etree.fromstring(
        b'<premis xmlns="http://www.loc.gov/premis/v3" version="3.0"><event>'
        b"<eventType>x</eventType><eventIdentifier/></event></premis>"
    )
    assert structural_problems(bad)  # no object, and the event's children out of order


def test_hostile_rendering_events_are_ignored_not_trusted(archive_dir, tmp_path):
    """Garbage, a traversal and a huge file beside the derivatives: the bag is made, and
    nothing outside the bag is named as a derivative."""
    evil = json.loads(rendering_event())
    evil["derivatives"] = [{"file": "../../etc/passwd"}, {"file": 7}]
    make_capture(
        archive_dir,
        derivatives={
            "a.json": b"\xff\xfe not json",
            "b.json": b"[1, 2]",
            "c.json": json.dumps(evil).encode(),
            "d.json": b" " * (2 * 1024 * 1024),
        },
    )
    bag = bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path).path
    text = (bag / "tags/prov.jsonld").read_text() + (bag / "tags/premis.xml").read_text()
    assert "passwd" not in text
    rdflib.Graph().parse(data=(bag / "tags/prov.jsonld").read_text(), format="json-ld")
    assert structural_problems(etree.parse(str(bag / "tags/premis.xml")).getroot()) == []
