"""Which answers get the live-reload script, and where the tag goes (pure).

Only a complete (Content-Length), uncompressed (no Content-Encoding other than identity)
text/html answer to a GET, of a size worth holding in memory, is touched: its body gets one
`<script>` before `</head>` (else before `</body>`, else at the end) and its Content-Length is
set again. A streamed answer (chunked, or delimited by the connection closing), a compressed
one, a range, anything that is not HTML passes through byte for byte, so streaming stays
streaming and nothing the app did to its bytes is undone.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Mapping

SCRIPT_PATH = "/__devbox/live.js"
EVENTS_PATH = "/__devbox/events"
PREFIX = "/__devbox/"
MAX_BODY = 8 * 1024 * 1024  # a bigger page passes through untouched
SCRIPT = (Path(__file__).parent / "live.js").read_bytes()
# In the script's URL, so the browser may keep it (it is asked for once, not on every page load).
VERSION = hashlib.sha1(SCRIPT).hexdigest()[:12]

_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)


def tag(seq: int) -> bytes:
    """The script tag; `seq` is the last live message sent when the page was answered, so the
    page catches up on what came after it (a reload that happened while it loaded). `async`:
    the page is parsed and shown without waiting for it (a blocking script in <head> cost a
    round trip before the new text showed)."""
    return f'<script src="{SCRIPT_PATH}?v={VERSION}" data-seq="{int(seq)}" async></script>'.encode()


def injectable(method: str, status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer (headers by lower-case name) gets the script."""
    if method != "GET" or status < 200 or status in (204, 206, 304):
        return False
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/html", "application/xhtml+xml"):
        return False
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return False
    if "transfer-encoding" in headers or "content-range" in headers:
        return False
    length = headers.get("content-length", "")
    return length.strip().isdigit() and int(length) <= MAX_BODY


def inject(body: bytes, seq: int) -> bytes:
    """`body` with the script tag before `</head>`, else `</body>`, else appended."""
    script = tag(seq)
    found = _HEAD_END.search(body)
    if found is None:
        found = next(reversed(list(_BODY_END.finditer(body))), None)  # the last </body>
    if found is None:
        return body + script
    return body[:found.start()] + script + body[found.start():]
