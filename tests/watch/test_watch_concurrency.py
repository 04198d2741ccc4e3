"""Watching many seeds at once: concurrency, per-host limits, politeness, dead hosts."""

from __future__ import annotations

import json
import threading
import time

import pytest
from watchkit import make_bag, send_article

from strongroom.demosite import SiteServer


class Gauge:
    """Counts requests in flight at a route and keeps their start times."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []

    def route(self, handler) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.append(time.monotonic())
        try:
            time.sleep(self.hold)
            send_article(handler)
        finally:
            with self.lock:
                self.now -= 1


def seed_bags(archive_dir, site: SiteServer, gauge: Gauge, count: int) -> list[str]:
    """``count`` seeds on ``site``, each answered by ``gauge``, each in its own bag."""
    urls = []
    start = len(list((archive_dir / "bags").glob("*"))) if (archive_dir / "bags").exists() else 0
    for i in range(start, start + count):
        path = f"/news/{i}.html"
        site.add_route(path, gauge.route)
        url = site.url.rstrip("/") + path
        make_bag(archive_dir, url, bag_id=f"test-20240513T1000{i:02d}Z-aaaaaa")
        urls.append(url)
    return urls


def watch(cli, *extra: str) -> list[dict]:
    r = cli("watch", "--all", "--json", "--timeout", "5", *extra)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def test_seeds_of_several_hosts_are_checked_at_once_within_the_per_host_limit(cli, archive_dir):
    gauges = [Gauge(hold=0.3), Gauge(hold=0.3)]
    with SiteServer() as a, SiteServer() as b:
        urls = seed_bags(archive_dir, a, gauges[0], 4) + seed_bags(archive_dir, b, gauges[1], 4)
        for g in gauges:  # the bags were made with requests of their own
            g.peak, g.starts = 0, []
        results = watch(cli, "--concurrency", "8", "--per-host", "2")
    assert [r["status"] for r in results] == ["ok"] * 8
    # Results come in seed order, whatever order the workers finished in.
    assert [r["url"] for r in results] == sorted(urls)
    for g in gauges:
        assert g.peak == 2, "each host saw its limit of two seeds at once, never more"


def test_concurrency_one_checks_one_seed_at_a_time(cli, archive_dir):
    gauge = Gauge(hold=0.05)
    with SiteServer() as site:
        seed_bags(archive_dir, site, gauge, 3)
        gauge.peak = 0
        results = watch(cli, "--concurrency", "1", "--per-host", "4")
    assert len(results) == 3
    assert gauge.peak == 1


def test_the_collections_delay_spaces_requests_to_one_host_across_workers(
    cli, archive_dir, tmp_path
):
    gauge = Gauge()
    with SiteServer() as site:
        urls = seed_bags(archive_dir, site, gauge, 4)
        collection = tmp_path / "c.toml"
        seeds = "\n".join(f'[[seeds]]\nurl = "{u}"' for u in urls)
        collection.write_text(
            f'id = "test"\ntitle = "Delay"\n\n[capture]\ndelay = 0.6\n\n{seeds}\n', "utf-8"
        )
        gauge.starts = []
        r = cli("watch", "-c", collection, "--json", "--concurrency", "4", "--per-host", "4")
    assert r.exit_code in (0, 1), r.output
    assert len(json.loads(r.stdout)) == 4
    gaps = [b - a for a, b in zip(gauge.starts, gauge.starts[1:], strict=False)]
    assert len(gaps) == 3
    # Four workers were free, but politeness kept 0.6 s between requests to the host.
    # Without it all four arrive within milliseconds. The gaps are measured where the
    # server sees them, so half the delay is left for scheduling jitter on a busy machine.
    assert min(gaps) >= 0.3, gaps
    assert gauge.starts[-1] - gauge.starts[0] >= 1.5


def test_a_dead_host_is_asked_once_per_run_not_once_per_seed(cli, archive_dir):
    gauge = Gauge()
    with SiteServer() as site:
        urls = seed_bags(archive_dir, site, gauge, 3)
    # The site is gone: its port now refuses connections.
    results = watch(cli, "--concurrency", "1")
    assert [r["status"] for r in results] == ["unreachable"] * 3
    reasons = [r["evidence"]["reason"] for r in results]
    assert sum("not asked again" in why for why in reasons) == 2, reasons
    assert all("refused" in why for why in reasons), reasons
    assert [r["url"] for r in results] == sorted(urls)


def test_a_bag_with_many_seeds_gives_each_seed_its_own_baseline(cli, site, archive_dir):
    """One collection bag, many seeds: each seed is compared with its own page."""
    from watchkit import serve_article

    first = serve_article(site, "/a.html", title="First article")
    second = serve_article(site, "/b.html", title="Second article")
    bag = make_bag(archive_dir, first, bag_id="test-20240513T100000Z-bbbbbb")
    # Add the second seed's records and label to the same bag's WARC.
    from watchkit import record_warc

    extra = bag / "data" / "warc" / "more.warc.gz"
    record_warc(extra, second)
    info = bag / "bag-info.txt"
    info.write_text(info.read_text("utf-8") + f"Seed-URL: {second}\n", "utf-8")
    serve_article(site, "/b.html", title="Second article", sentence="")  # b is edited
    results = {r["url"]: r["status"] for r in watch(cli)}
    assert results == {first: "ok", second: "edited"}


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_absurd_concurrency_is_refused_before_any_work(cli, archive_dir, value):
    r = cli("watch", "--all", "--concurrency", value)
    assert r.exit_code == 2
    assert "concurrency" in r.output.lower()


def test_a_slot_counts_from_when_the_request_is_sent_not_from_when_it_was_handed_out():
    """A seed's slot is taken when a worker is handed it; a worker late to send (a busy
    machine) must not leave the host's next request less than the delay behind."""
    from strongroom.watch.live import HostClock

    clock = HostClock()
    assert clock.try_reserve("news.example", 5.0)
    time.sleep(0.2)  # the worker is late to send
    clock.touch("news.example", 5.0)
    assert clock.wait_for("news.example") > 4.85
    assert not clock.try_reserve("news.example", 5.0)
    clock.touch("news.example", 0.0)  # no delay configured: nothing is booked
    assert clock.wait_for("news.example") > 4.85
