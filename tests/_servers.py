"""Real servers on 127.0.0.1 for the remote-input tests and bench/fetch_bench.py.

``FileServer``: a threaded HTTP/1.1 server over a directory with byte ranges (206), and
faults switched on per test: ``drop`` (the first response of each file stops half-way and the
connection closes), ``truncate`` (every response stops half-way), ``slow`` (sleep between
chunks), ``status`` (answer every request with this HTTP status).  Missing files are 404.

``S3Server``: moto's S3 API server (``moto.server.ThreadedMotoServer``) with a bucket.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        if srv.faults.get("status"):
            self._reply(srv.faults["status"], b"fault\n")
            return
        path = srv.root / self.path.lstrip("/").split("?")[0]
        if not path.is_file():
            self._reply(404, b"not found\n")
            return
        data = path.read_bytes()
        start, code = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes="):-1])
            if start >= len(data):
                self._reply(416, b"")
                return
            code = 206
        body = data[start:]
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        first = srv.served.get(self.path, 0) == 0
        srv.served[self.path] = srv.served.get(self.path, 0) + 1
        stop = len(body)
        if srv.faults.get("truncate") or (srv.faults.get("drop") and first):
            stop = len(body) // 2
        step = 1 << 16
        for i in range(0, stop, step):
            self.wfile.write(body[i:min(i + step, stop)])
            if srv.faults.get("slow"):
                self.wfile.flush()
                time.sleep(srv.faults["slow"])
        if stop < len(body):
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FileServer:
    """``with FileServer(root) as srv:`` serves ``root`` at ``srv.url``."""

    def __init__(self, root):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.root = Path(root)
        self.httpd.faults = {}
        self.httpd.requests = []
        self.httpd.served = {}
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def faults(self) -> dict:
        return self.httpd.faults

    @property
    def requests(self) -> list:
        return self.httpd.requests

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``with S3Server("bucket") as s3:`` moto's S3 server at ``s3.endpoint``; ``s3.put_tree``
    uploads a directory."""

    def __init__(self, bucket: str):
        from moto.server import ThreadedMotoServer

        self.bucket = bucket
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def __enter__(self):
        self.server.start()
        # public, as IRSA's bucket: anonymous GETs and listing (so a missing key is a 404)
        self.client().create_bucket(Bucket=self.bucket, ACL="public-read")
        return self

    def put_tree(self, root, prefix: str) -> int:
        c, n = self.client(), 0
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                c.upload_file(str(p), self.bucket, f"{prefix}/{p.relative_to(root).as_posix()}",
                              ExtraArgs={"ACL": "public-read"})
                n += 1
        return n

    def __exit__(self, *exc):
        self.server.stop()
