"""Many seeds checked at once, run after run: every result recorded, no worker left over.

The workers of a watch run extract page text with lxml (through trafilatura) while
the recording thread writes the ledger and the custody logs; these tests run enough
seeds at once, with baselines and takedowns, that a result lost, mixed up or out of
order would show, and check that a run which cannot record stops its workers.
"""

from __future__ import annotations

import json
import threading
import time

from watchkit import article, make_collection_bag, send_article, serve_article

from strongroom.bag import custody
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demosite import Override, SiteServer

HOSTS = 3
PER_HOST = 16
# What each seed serves now, by its number: the recorded article, or a takedown.
STATES = {
    0: ("ok", None),
    1: ("not-found", Override(404, {}, b"<title>404 Not Found</title>")),
    2: ("gone", Override(410, {}, b"<title>Gone</title>")),
    3: ("edited", Override(200, {}, article(sentence=""))),
    4: ("blocked-451", Override(451, {}, b"<title>Unavailable for legal reasons</title>")),
}


def _watched_site(archive_dir, site: SiteServer, h: int) -> dict[str, str]:
    """PER_HOST seeds on ``site`` bagged in one bag, then put in their states."""
    urls = [
        serve_article(site, f"/news/{h}-{i}.html", title=f"Report {i}") for i in range(PER_HOST)
    ]
    make_collection_bag(archive_dir, urls, bag_id=f"test-20240513T10000{h}Z-aaaaaa")
    expected = {}
    for i, url in enumerate(urls):
        status, now = STATES[i % len(STATES)]
        if now is not None:
            site.set_override(url[len(site.url) - 1 :], now)
        expected[url] = status
    return expected


def test_many_seeds_at_once_are_all_recorded_the_same_run_after_run(cli, archive_dir):
    sites = [SiteServer().start() for _ in range(HOSTS)]
    try:
        expected: dict[str, str] = {}
        for h, site in enumerate(sites):
            expected |= _watched_site(archive_dir, site, h)
        codes = []
        for _ in range(3):
            r = cli("watch", "--all", "--json", "--timeout", "5", "--concurrency", "16",
                    "--per-host", str(PER_HOST))  # fmt: skip
            assert "Traceback" not in r.output
            codes.append(r.exit_code)
            results = json.loads(r.stdout)
            # in seed order, one result per seed, each seed with its own status
            assert [x["url"] for x in results] == sorted(expected)
            assert {x["url"]: x["status"] for x in results} == expected
    finally:
        for site in sites:
            site.stop()
    assert codes == [1, 0, 0]  # the takedowns and edits are news once
    archive = Archive(archive_dir)
    with open_ledger(archive_dir) as ledger:
        for url, status in expected.items():
            rows = ledger.query("SELECT status FROM watch_results WHERE url = ?", (url,))
            assert [row["status"] for row in rows] == [status] * 3, url
    keyring = Keyring.load(archive)
    for h in range(HOSTS):
        bag_id = f"test-20240513T10000{h}Z-aaaaaa"
        entries = custody.read_entries(archive.custody_path(bag_id))
        assert [e["action"] for e in entries] == ["watch"] * (3 * PER_HOST)
        chain = custody.verify_chain(
            archive.custody_path(bag_id),
            keyring,
            archive.bag_dir(bag_id) / "tagmanifest-sha256.txt",
        )
        assert chain.ok and chain.signed == 3 * PER_HOST, chain.problems


def _slow_article(handler) -> None:
    time.sleep(0.2)  # long enough that other seeds are in flight when recording fails
    send_article(handler)


def test_a_run_that_cannot_record_stops_its_workers_before_it_returns(cli, site, archive_dir):
    urls = [serve_article(site, f"/news/{i}.html") for i in range(24)]
    bag_id = "test-20240513T100000Z-aaaaaa"
    make_collection_bag(archive_dir, urls, bag_id=bag_id)
    for url in urls:
        site.add_route(url[len(site.url) - 1 :], _slow_article)
    Archive(archive_dir).custody_path(bag_id).mkdir()  # the custody log cannot be written
    r = cli("watch", "--all", "--json", "--concurrency", "8", "--per-host", "8")
    assert r.exit_code == 2, r.output
    assert "cannot open custody log" in r.output
    assert "Traceback" not in r.output
    # No worker goes on fetching and parsing once the command has returned.
    assert [t.name for t in threading.enumerate() if t.name.startswith("watch-")] == []


def test_page_text_is_extracted_by_one_thread_at_a_time():
    """While one thread is in libxml2 (a recapture writing PREMIS XML, another worker's
    extraction), a worker's extraction waits for it rather than entering alongside."""
    from strongroom.core.libxml import LOCK
    from strongroom.watch.text import Page

    pages: list[Page] = []
    worker = threading.Thread(
        target=lambda: pages.append(Page.from_html("http://x/", 200, article().decode()))
    )
    with LOCK:
        worker.start()
        worker.join(timeout=0.5)  # given every chance to run: it must not get in
        assert worker.is_alive() and not pages
    worker.join()
    assert pages and "Babur Square" in pages[0].text
