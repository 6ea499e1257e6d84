#!/usr/bin/env python3
"""A health server for the deploy suites: serves GET /health for whichever
release the stand-in compose last brought "up".

State lives in the service directory given on the command line:
  DIR/release           the release that is up (written by tests/standin/compose);
                        absent -> 503 "nothing up"
  DIR/fail/<release>    "500" -> that release answers 500; "hang" -> it never
                        answers (the request is held open for 300 s)
  DIR/requests          one line per request served: "<release> <status>"
A release that is up and not listed under fail/ answers 200 with
{"status":"ok","release":"<release>"}.
"""
import http.server
import json
import os
import sys
import time

state = sys.argv[1]
port = int(sys.argv[2])


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        release = read(os.path.join(state, "release"))
        if self.path not in ("/health", "/"):
            status, body = 404, '{"error":"not found"}'
        elif not release:
            status, body = 503, '{"status":"down","release":null}'
        else:
            mode = read(os.path.join(state, "fail", release))
            if mode == "hang":
                with open(os.path.join(state, "requests"), "a") as f:
                    f.write("%s hang\n" % release)
                time.sleep(300)
                return
            if mode == "500":
                status, body = 500, json.dumps({"status": "error", "release": release})
            else:
                status, body = 200, json.dumps({"status": "ok", "release": release})
        with open(os.path.join(state, "requests"), "a") as f:
            f.write("%s %d\n" % (release, status))
        self.answer(status, body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", port), Handler).serve_forever()
