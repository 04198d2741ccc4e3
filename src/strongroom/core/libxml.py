"""One thread at a time in libxml2 (lxml, and trafilatura over it), process-wide.

``watch`` extracts page text on many worker threads while its recording thread
may bag a recapture (PREMIS XML) at the same moment. lxml leaves the GIL inside
libxml2, and what those calls share is not made for several threads at once:
trafilatura parses every page with one module-level parser and cleans it with
module-level XPath objects, and native crashes of concurrent ``extract()``
calls are reported upstream (SIGSEGV, and SIGABRT with glibc heap messages).
A crash of that kind aborts a nightly watch with no traceback, so every lxml
use in the package holds :data:`LOCK`. It costs little: extraction runs
mostly in Python, under the GIL, anyway (see bench/watch.py).
"""

from __future__ import annotations

import threading

LOCK = threading.RLock()  # re-entrant: a locked caller may call another locked helper
