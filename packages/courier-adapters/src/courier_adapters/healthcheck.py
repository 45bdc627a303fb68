"""Container healthcheck with nothing but Python: ``python -m courier_adapters.healthcheck [URL]``.

Exit 0 when ``URL`` answers 2xx within 2 s, else 1. The default URL is the API's liveness route on
``COURIER_HTTP_PORT`` (8080); the consumer's compose service passes ``http://127.0.0.1:9100/readyz``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check(url: str, timeout: float = 2.0) -> bool:
    if not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise ValueError(f"healthcheck only probes loopback addresses, not {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - loopback only
            return 200 <= int(answer.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    port = os.environ.get("COURIER_HTTP_PORT", "8080")
    url = args[0] if args else f"http://127.0.0.1:{port}/healthcheck"
    healthy = check(url)
    print(f"{url}: {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
