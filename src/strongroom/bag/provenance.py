"""Provenance tag files of a bag: PREMIS 3 events (JSON) and W3C PROV-O.

Both files describe the same three steps - the capture, the message digest
calculation and the packing into a bag - with the same agents: the software
(strongroom), the capturer (a pseudonym, since capturers may be at risk) and
the organisation. They are written once, inside the bag, at bagging time;
later events go to the custody log, so the bag never changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PREMIS_NS = "http://www.loc.gov/premis/v3"
PROV_NS = "http://www.w3.org/ns/prov#"
SR_NS = "urn:strongroom:"
# hashlib names -> the PREMIS messageDigestAlgorithm vocabulary (id.loc.gov)
PREMIS_ALGORITHMS = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
}


@dataclass(frozen=True)
class FileFacts:
    """A payload file as provenance sees it."""

    path: str
    size: int
    digests: dict[str, str]
    is_warc: bool
    records: int = 0


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

    @property
    def capture_id(self) -> str:
        return str(self.capture.get("capture_id") or "")

    @property
    def crawler(self) -> str:
        return str(self.capture.get("software") or self.software)


def _agents(ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            "agentIdentifier": {"agentIdentifierType": "local", "agentIdentifierValue": "software"},
            "agentName": ctx.software,
            "agentType": "software",
        },
        {
            "agentIdentifier": {"agentIdentifierType": "local", "agentIdentifierValue": "crawler"},
            "agentName": ctx.crawler,
            "agentType": "software",
        },
        {
            "agentIdentifier": {"agentIdentifierType": "local", "agentIdentifierValue": "operator"},
            "agentName": ctx.operator,
            "agentType": "person",
            "agentNote": "pseudonym of the capture operator",
        },
        {
            "agentIdentifier": {
                "agentIdentifierType": "local",
                "agentIdentifierValue": "organization",
            },
            "agentName": ctx.organization,
            "agentType": "organization",
        },
    ]


def _link(agent: str, role: str) -> dict[str, Any]:
    return {
        "linkingAgentIdentifierType": "local",
        "linkingAgentIdentifierValue": agent,
        "linkingAgentRole": role,
    }


def premis_json(ctx: Context) -> str:
    """PREMIS 3 objects, events and agents as one JSON document (stable formatting)."""
    objects = []
    for f in ctx.files:
        objects.append(
            {
                "objectIdentifier": {
                    "objectIdentifierType": "bag-path",
                    "objectIdentifierValue": f.path,
                },
                "objectCategory": "file",
                "objectCharacteristics": {
                    "compositionLevel": 0,
                    "fixity": [
                        {
                            "messageDigestAlgorithm": PREMIS_ALGORITHMS[a],
                            "messageDigest": d,
                            "messageDigestOriginator": ctx.software,
                        }
                        for a, d in sorted(f.digests.items())
                    ],
                    "size": f.size,
                    "format": {
                        "formatDesignation": {
                            "formatName": "WARC" if f.is_warc else "derivative",
                            **({"formatVersion": "1.1"} if f.is_warc else {}),
                        }
                    },
                },
            }
        )
    all_objects = [
        {"linkingObjectIdentifierType": "bag-path", "linkingObjectIdentifierValue": f.path}
        for f in ctx.files
    ]
    status = str(ctx.capture.get("status") or "complete")
    events = [
        {
            "eventIdentifier": {
                "eventIdentifierType": "local",
                "eventIdentifierValue": f"{ctx.bag_id}/capture",
            },
            "eventType": "capture",
            "eventDateTime": str(ctx.capture.get("started") or ""),
            "eventDetailInformation": {
                "eventDetail": f"web capture {ctx.capture_id} of {len(ctx.seeds)} seed(s), "
                f"ended {ctx.capture.get('ended') or 'unknown'}"
            },
            "eventOutcomeInformation": {
                "eventOutcome": "success" if status == "complete" else status
            },
            "linkingAgentIdentifier": [
                _link("crawler", "executing program"),
                _link("operator", "implementer"),
                _link("organization", "authorizer"),
            ],
            "linkingObjectIdentifier": all_objects,
        },
        {
            "eventIdentifier": {
                "eventIdentifierType": "local",
                "eventIdentifierValue": f"{ctx.bag_id}/message-digest-calculation",
            },
            "eventType": "message digest calculation",
            "eventDateTime": ctx.digest_ended,
            "eventDetailInformation": {
                "eventDetail": f"{', '.join(PREMIS_ALGORITHMS[a] for a in ctx.algorithms)} "
                f"computed while reading each file once, from {ctx.digest_started}"
            },
            "eventOutcomeInformation": {"eventOutcome": "success"},
            "linkingAgentIdentifier": [_link("software", "executing program")],
            "linkingObjectIdentifier": all_objects,
        },
        {
            "eventIdentifier": {
                "eventIdentifierType": "local",
                "eventIdentifierValue": f"{ctx.bag_id}/packing",
            },
            "eventType": "packing",
            "eventDateTime": ctx.packed,
            "eventDetailInformation": {"eventDetail": f"packed as BagIt 1.0 bag {ctx.bag_id}"},
            "eventOutcomeInformation": {"eventOutcome": "success"},
            "linkingAgentIdentifier": [
                _link("software", "executing program"),
                _link("organization", "authorizer"),
            ],
            "linkingObjectIdentifier": all_objects,
        },
    ]
    events += _ingestion_events(ctx, all_objects)
    doc = {
        "@context": {"premis": PREMIS_NS},
        "premis:version": "3.0",
        "object": objects,
        "event": events,
        "agent": _agents(ctx),
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _ingestion_events(ctx: Context, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An ``ingestion`` event for a bag imported from another tool's WARCs or WACZ."""
    ingest = ctx.capture.get("ingest")
    if not isinstance(ingest, dict):
        return []
    received = [
        f"{r.get('name')} (sha256 {r.get('sha256')}, {r.get('size')} bytes)"
        for r in ingest.get("received") or []
        if isinstance(r, dict)
    ]
    tool = str(ingest.get("source_tool") or "unknown software")
    return [
        {
            "eventIdentifier": {
                "eventIdentifierType": "local",
                "eventIdentifierValue": f"{ctx.bag_id}/ingestion",
            },
            "eventType": "ingestion",
            "eventDateTime": str(ingest.get("imported") or ctx.packed),
            "eventDetailInformation": {
                "eventDetail": f"imported from files made by {tool}: {'; '.join(received)}"
            },
            "eventOutcomeInformation": {
                "eventOutcome": "success" if not ingest.get("damage") else "success with damage",
                "eventOutcomeDetail": {
                    "eventOutcomeDetailNote": "; ".join(
                        [str(d) for d in ingest.get("damage") or []][:50]
                        + [f"accepted: {ingest.get('accepted_damage_reason')}"]
                        * bool(ingest.get("damage"))
                    )
                },
            },
            "linkingAgentIdentifier": [
                _link("crawler", "source program"),
                _link("software", "executing program"),
                _link("operator", "implementer"),
            ],
            "linkingObjectIdentifier": objects,
        }
    ]


def _attrs(attrs: dict[str, str]) -> dict[Any, Any]:
    """prov's stubs want QualifiedName keys; it accepts prefixed strings too."""
    return dict(attrs)


def prov_jsonld(ctx: Context) -> str:
    """The same story in W3C PROV, built with the ``prov`` library.

    prov 2.x serializes PROV-JSON, PROV-N and PROV-XML but not JSON-LD (that
    needs its optional rdflib extra), so we write PROV-JSON with a JSON-LD
    ``@context`` that maps its prefixes to their IRIs.
    """
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace("sr", SR_NS)
    doc.add_namespace("premis", PREMIS_NS + "/")
    bag = doc.entity(
        f"sr:bag/{ctx.bag_id}",
        _attrs({"prov:type": "sr:Bag", "prov:label": ctx.bag_id}),
    )
    software = doc.agent(
        "sr:agent/software", _attrs({"prov:type": "prov:SoftwareAgent", "prov:label": ctx.software})
    )
    crawler = doc.agent(
        "sr:agent/crawler", _attrs({"prov:type": "prov:SoftwareAgent", "prov:label": ctx.crawler})
    )
    operator = doc.agent(
        "sr:agent/operator", _attrs({"prov:type": "prov:Person", "prov:label": ctx.operator})
    )
    org = doc.agent(
        "sr:agent/organization",
        _attrs({"prov:type": "prov:Organization", "prov:label": ctx.organization}),
    )
    doc.actedOnBehalfOf(operator, org)
    capture = doc.activity(
        f"sr:capture/{ctx.capture_id}",
        ctx.capture.get("started") or None,
        ctx.capture.get("ended") or None,
        _attrs({"prov:type": "premis:capture", "prov:label": "web capture"}),
    )
    packing = doc.activity(
        f"sr:packing/{ctx.bag_id}",
        ctx.digest_started,
        ctx.packed,
        _attrs(
            {"prov:type": "premis:packing", "prov:label": "message digest calculation and packing"}
        ),
    )
    doc.wasAssociatedWith(capture, crawler)
    doc.wasAssociatedWith(capture, operator)
    doc.wasAssociatedWith(packing, software)
    for i, url in enumerate(ctx.seeds, start=1):
        seed = doc.entity(f"sr:seed/{i}", _attrs({"prov:type": "sr:SeedURL", "prov:location": url}))
        doc.used(capture, seed)
    # Entities for the WARCs only: the derivatives are listed, with digests, in
    # the manifests and premis.json, and one PROV record per screenshot would
    # make this file (and the prov library's time) grow with no gain.
    for f in (f for f in ctx.files if f.is_warc):
        attrs: dict[Any, Any] = {"prov:label": f.path, "sr:size": f.size}
        for a, d in sorted(f.digests.items()):
            attrs[f"sr:{a}"] = d
        e = doc.entity(f"sr:bag/{ctx.bag_id}/{f.path}", attrs)
        doc.wasGeneratedBy(e, capture)
        doc.used(packing, e)
        doc.hadMember(bag, e)
    doc.wasGeneratedBy(bag, packing)
    doc.wasAttributedTo(bag, org)
    data = json.loads(doc.serialize(format="json") or "{}")
    prefixes = data.get("prefix", {})
    data["@context"] = {"prov": PROV_NS, **prefixes}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
