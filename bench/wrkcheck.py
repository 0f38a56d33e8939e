"""A cross-check of the load generator with wrk, when the Debian package is installed.

wrk is closed loop (a connection sends its next request when the previous response
arrived), so it cannot hold a constant arrival rate and is not used for the
measurements. Its saturated throughput against the bare endpoint shows what that
endpoint can serve to a C client, next to the rate the Python generator held.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from bench.corpus import Corpus

logger = logging.getLogger(__name__)

INSTALL_HINT = "wrk is not installed; install it with: apt-get install -y wrk"
SCRIPT = Path(__file__).resolve().parent / "wrk" / "signed_post.lua"
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")


def wrk_path() -> str | None:
    path = shutil.which("wrk")
    if path is None:
        logger.warning(INSTALL_HINT)
    return path


def write_requests(path: Path, seed: int, secret: str, count: int = 2000) -> Path:
    """Write ``signature<TAB>body`` lines for the Lua script."""
    from bench.corpus import sign

    corpus = Corpus(seed)
    lines = []
    for item in corpus.webhooks(count):
        lines.append(f"{sign(secret.encode(), item.body)}\t{item.body.decode()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def saturate(port: int, requests: Path, seconds: int = 5, connections: int = 16) -> float | None:
    """Run wrk against 127.0.0.1:port; return its requests per second, or None."""
    executable = wrk_path()
    if executable is None:
        return None
    command = [
        executable,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(requests),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("wrk failed: %s", exc)
        return None
    match = REQUESTS_PER_SECOND.search(result.stdout)
    if match is None:
        logger.warning("wrk printed no Requests/sec: %s", (result.stdout + result.stderr)[-300:])
        return None
    return float(match.group(1))
