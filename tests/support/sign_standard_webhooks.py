#!/usr/bin/env python3
"""Signs or verifies with the `standardwebhooks` package from PyPI, so Hookbox's reading of
the Standard Webhooks spec is checked by an independent implementation.

  sign   SECRET MSG_ID TIMESTAMP < body   prints the webhook-signature value
  verify SECRET MSG_ID TIMESTAMP SIGNATURE < body   exits 0 if the package accepts it

Exits 3 when the package is not installed (`pip install standardwebhooks`).
"""
import sys
from datetime import datetime, timezone

try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("the standardwebhooks package is not installed", file=sys.stderr)
    sys.exit(3)


def main() -> int:
    mode, secret, msg_id, timestamp = sys.argv[1:5]
    body = sys.stdin.buffer.read().decode("utf-8")
    webhook = Webhook(secret)
    if mode == "sign":
        when = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
        print(webhook.sign(msg_id, when, body))
        return 0
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sys.argv[5],
    }
    try:
        webhook.verify(body, headers)
    except Exception as error:  # the package raises its own verification errors
        print(f"rejected: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
