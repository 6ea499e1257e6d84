#!/usr/bin/env python3
"""audit_app demo process: what examples/demo/compose runs instead of the
real containers. NOT the application and NOT Docker.

  app.py --port PORT --release TAG

GET /health -> 200 {"release": TAG, "status": "ok"}
               500 {"release": TAG, "status": "broken"} when TAG contains
               "broken", so a demo can show a deploy that fails its health
               check and is rolled back.
GET /       -> a one-line page naming the release (same status rule).
"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--release", required=True)
    args = ap.parse_args()
    broken = "broken" in args.release

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status, ctype, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            status = 500 if broken else 200
            if self.path.split("?")[0] == "/health":
                self._send(status, "application/json",
                           json.dumps({"release": args.release,
                                       "status": "broken" if broken else "ok"}) + "\n")
            elif self.path.split("?")[0] == "/":
                self._send(status, "text/plain",
                           "audit_app demo process (not the real app), release %s\n"
                           % args.release)
            else:
                self._send(404, "text/plain", "not found\n")

        do_HEAD = do_GET

        def log_message(self, fmt, *a):
            sys.stderr.write("demo app %s: %s\n" % (args.release, fmt % a))

    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True

    def stop(signum, frame):
        # shutdown() waits for serve_forever: leave from the handler thread.
        srv.socket.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("demo app: release %s on http://%s:%d (demo runtime, not Docker)\n"
                     % (args.release, args.host, args.port))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
