#!/usr/bin/env python3
"""Sends signed deliveries as Gemini does (one webhook id each, retried with
backoff until a 2xx), to receivers chosen at random, and writes what it saw.

    sender.py SECRET OUT.json SECONDS RATE URL [URL ...]

Every request is logged as (epoch seconds, url index, id, status); the summary holds
the ids sent and acknowledged. Standard library only.
"""

import base64
import hashlib
import hmac
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

RETRY_FOR = 90.0  # seconds a delivery is retried (Gemini: 24 h)


def sign(key, webhook_id, timestamp, body):
    content = f"{webhook_id}.{timestamp}.".encode() + body
    mac = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def post(url, headers, body, timeout=5.0):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


def main():
    secret, out, seconds, rate, urls = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
    key = base64.b64decode(secret[len("whsec_"):])
    log, lock = [], threading.Lock()
    acked = {}
    start = time.monotonic()

    def deliver(n):
        webhook_id = f"msg_{n}"
        body = json.dumps({"type": "batch.succeeded", "version": "v1",
                           "timestamp": "2026-12-01T00:00:00Z",
                           "data": {"id": f"batches/{n}", "output_file_uri": "files/x"}}).encode()
        pause, first = 0.2, time.monotonic()
        while time.monotonic() - first < RETRY_FOR:
            target = random.randrange(len(urls))
            timestamp = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": webhook_id,
                       "webhook-timestamp": str(timestamp),
                       "webhook-signature": sign(key, webhook_id, timestamp, body)}
            status = post(urls[target], headers, body)
            with lock:
                log.append((round(time.time(), 3), target, webhook_id, status))
            if 200 <= status < 300:
                with lock:
                    acked[webhook_id] = status
                return
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    threads, n = [], 0
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        while n < due:
            thread = threading.Thread(target=deliver, args=(n,), daemon=True)
            thread.start()
            threads.append(thread)
            n += 1
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    with open(out, "w") as f:
        json.dump({"sent": n, "acked": sorted(acked), "log": log}, f)


if __name__ == "__main__":
    main()
