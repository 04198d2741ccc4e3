"""Per-host politeness without a blocked slot: while one host must wait, others are served."""

from __future__ import annotations

import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler

from strongroom.capture.frontier import HostTurns, Task
from strongroom.demosite import SiteServer

PAGES = 12


def task(url: str) -> Task:
    return Task(url, "page", 0, url, url)


def test_a_waiting_host_never_holds_up_another():
    turns = HostTurns(delay=0.1)
    for i in range(3):
        turns.add(task(f"http://a.test/{i}"))
    turns.add(task("http://b.test/0"))
    first = turns.take(0.0)
    assert first is not None and first.url == "http://a.test/0"
    second = turns.take(0.0)  # a must wait 0.1 s: b is served meanwhile
    assert second is not None and second.url == "http://b.test/0"
    assert turns.take(0.05) is None  # nothing may start yet
    assert abs((turns.wait_time(0.05) or 0) - 0.05) < 1e-9
    nxt = turns.take(0.1)
    assert nxt is not None and nxt.url == "http://a.test/1"


def test_retries_wait_for_their_time_without_blocking():
    turns = HostTurns(delay=0.0)
    late = task("http://a.test/retry")
    late.not_before = 5.0
    turns.add(late)
    turns.add(task("http://b.test/now"))
    got = turns.take(1.0)
    assert got is not None and got.url == "http://b.test/now"
    assert turns.take(1.0) is None and turns.wait_time(1.0) == 4.0
    assert turns.take(5.0) is late


class _Timed:
    """Routes that answer small pages and note when each request arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def page(self, body: bytes):
        def handler(req: BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.times.append(time.monotonic())
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            req.wfile.write(head.encode() + body)

        return handler


def serve_site(timed: _Timed) -> SiteServer:
    srv = SiteServer().start()
    links = "".join(f'<a href="/p{i}.html">{i}</a>' for i in range(PAGES))
    srv.add_route("/", timed.page(f"<html><title>i</title>{links}</html>".encode()))
    for i in range(PAGES):
        srv.add_route(f"/p{i}.html", timed.page(f"<html><title>{i}</title></html>".encode()))
    return srv


def test_two_hosts_with_delay_are_served_side_by_side(cli, archive_dir):
    a_times, b_times = _Timed(), _Timed()
    a, b = serve_site(a_times), serve_site(b_times)
    try:
        res = cli(
            "capture", a.url, b.url, "--depth", "1", "--delay", "0.1", "--ignore-robots",
            "--concurrency", "2",
        )  # fmt: skip
    finally:
        a.stop()
        b.stop()
    assert res.exit_code == 0, res.output
    for times in (a_times.times, b_times.times):
        assert len(times) == PAGES + 1
        gaps = sorted(y - x for x, y in itertools.pairwise(times))
        # Politeness per host is kept: requests start 0.1 s apart. They arrive with
        # the jitter of a loaded machine, so single gaps vary; the span cannot shrink.
        assert gaps[len(gaps) // 2] >= 0.09
        assert times[-1] - times[0] >= 0.09 * (len(times) - 1)
    # Each host's requests are spread over its own ~1.2 s; the two hosts overlap
    # instead of taking turns with the whole crawl (which would take twice as long).
    a0, a1 = a_times.times[0], a_times.times[-1]
    b0, b1 = b_times.times[0], b_times.times[-1]
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * min(a1 - a0, b1 - b0)
    # Close to 20 requests/s overall (2 hosts x 10/s); the old slot-blocking crawl
    # reached 13. A loaded machine only slows us, so this bound is loose.
    total = len(a_times.times) + len(b_times.times)
    rate = total / (max(a1, b1) - min(a0, b0))
    print(f"two hosts, delay 0.1: {rate:.1f} requests/s")
    assert rate > 14
