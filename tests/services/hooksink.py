#!/usr/bin/env python3
"""A real HTTP server that records what it receives (webhooks, pings).

Every request is appended to STATE/requests.jsonl as
{"method", "path", "body", "content_type"}. STATE/mode decides the answer:
"ok" (200, default), "500", "404" or "hang" (sleeps 30 s before answering).
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = sys.argv[1]
port = int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        with open(os.path.join(state, "requests.jsonl"), "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "body": body,
                                "content_type": self.headers.get("Content-Type", "")}) + "\n")
        try:
            with open(os.path.join(state, "mode")) as f:
                mode = f.read().strip()
        except OSError:
            mode = "ok"
        if mode == "hang":
            time.sleep(30)
        code = {"500": 500, "404": 404}.get(mode, 200)
        payload = b"OK\n" if code == 200 else b"error\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = do_PUT = handle_any


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
