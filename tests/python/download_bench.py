"""Downloads measured side by side: the same client as the HTTP bench's download (one
http.client connection, the body read into a 1 MiB buffer, bytes counted, not hashed), over
several servers in turn, each several times; prints one JSON object with each server's rates.

    download_bench.py --runs N [--header 'K: V'] LABEL=URL [LABEL=URL ...]

An optional `--upload BASE FILE` first creates a raw image at BASE (a Glance v2 API) and uploads
FILE, and adds `glint=BASE/v2/images/<id>/file` (`--as NAME` for another label than `glint`) (and, with `--range`, a 1 MiB-aligned Range
read of the second half) to the list; with `--cache`, a second image with the same data is put
in the server's image cache (`PUT /v2/cache/{id}`, waited for) and downloaded from there as
`glint_cached`.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse


def fetch(url, headers, extra=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    h = dict(headers)
    if extra:
        h.update(extra)
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    t0 = time.perf_counter()
    conn.request("GET", u.path + (("?" + u.query) if u.query else ""), headers=h)
    resp = conn.getresponse()
    if resp.status not in (200, 206):
        raise SystemExit("%s -> %s %s" % (url, resp.status, resp.read()[:300]))
    got = 0
    while True:
        k = resp.readinto(mv)
        if not k:
            break
        got += k
    dt = time.perf_counter() - t0
    conn.close()
    return got, dt, resp.getheader("Transfer-Encoding") or "Content-Length"


def upload(base, path, headers):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"name": "download-bench", "disk_format": "raw",
                       "container_format": "bare"}).encode()
    h = dict(headers)
    h["Content-Type"] = "application/json"
    conn.request("POST", "/v2/images", body=body, headers=h)
    resp = conn.getresponse()
    image = json.loads(resp.read())
    size = os.path.getsize(path)
    h = dict(headers)
    h.update({"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    with open(path, "rb") as f:
        conn.request("PUT", "/v2/images/%s/file" % image["id"], body=f, headers=h)
        resp = conn.getresponse()
        resp.read()
    if resp.status != 204:
        raise SystemExit("upload -> %s" % resp.status)
    conn.close()
    return "%s/v2/images/%s/file" % (base.rstrip("/"), image["id"]), size


def cache(base, url, headers, timeout=300):
    """Queues the image at `url` for BASE's image cache and waits until it is cached."""
    image_id = url.rsplit("/", 2)[-2]
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.request("PUT", "/v2/cache/%s" % image_id, headers=headers)
    resp = conn.getresponse()
    resp.read()
    if resp.status not in (200, 202):
        raise SystemExit("PUT /v2/cache -> %s" % resp.status)
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn.request("GET", "/v2/cache", headers=headers)
        resp = conn.getresponse()
        listed = json.loads(resp.read())
        if any(c.get("image_id") == image_id for c in listed.get("cached_images", [])):
            conn.close()
            return
        time.sleep(0.2)
    raise SystemExit("the image was not cached within %ss" % timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--upload", nargs=2, metavar=("BASE", "FILE"))
    ap.add_argument("--range", action="store_true")
    ap.add_argument("--cache", action="store_true")
    ap.add_argument("--as", dest="name", default="glint",
                    help="the label of the uploaded image's downloads")
    ap.add_argument("targets", nargs="*")
    args = ap.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    targets = [(t.split("=", 1)[0], t.split("=", 1)[1], None) for t in args.targets]
    if args.upload:
        url, size = upload(args.upload[0], args.upload[1], headers)
        targets.append((args.name, url, None))
        if args.range:
            half = (size // 2) & ~((1 << 20) - 1)
            targets.append((args.name + "_range", url, {"Range": "bytes=%d-" % half}))
        if args.cache:
            cached, _ = upload(args.upload[0], args.upload[1], headers)
            cache(args.upload[0], cached, headers)
            targets.append((args.name + "_cached", cached, None))
    rates = {label: [] for label, _, _ in targets}
    kinds = {}
    for _ in range(args.runs):
        for label, url, extra in targets:
            got, dt, kind = fetch(url, headers, extra)
            rates[label].append(got / dt / 1e6)
            kinds[label] = kind
    out = {label: {"median_mb_per_s": round(statistics.median(r), 1),
                   "best_mb_per_s": round(max(r), 1), "runs": [round(x, 1) for x in r],
                   "framing": kinds[label]}
           for label, r in rates.items()}
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
