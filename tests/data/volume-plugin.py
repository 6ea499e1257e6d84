#!/usr/bin/env python3
"""A Docker volume plugin (the legacy plugin protocol: JSON over HTTP on a
unix socket in /run/docker/plugins), for tests that need a volume whose
driver is not "local". Volumes are directories under DIR.

    volume-plugin.py SOCKET DIR
"""
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

SOCK, ROOT = sys.argv[1], sys.argv[2]
os.makedirs(ROOT, exist_ok=True)
volumes = {}


def path(name):
    return os.path.join(ROOT, name)


def handle(endpoint, req):
    name = req.get("Name", "")
    if endpoint == "Plugin.Activate":
        return {"Implements": ["VolumeDriver"]}
    if endpoint == "VolumeDriver.Capabilities":
        return {"Capabilities": {"Scope": "local"}}
    if endpoint == "VolumeDriver.Create":
        os.makedirs(path(name), exist_ok=True)
        volumes[name] = True
        return {"Err": ""}
    if endpoint == "VolumeDriver.Remove":
        volumes.pop(name, None)
        return {"Err": ""}
    if endpoint == "VolumeDriver.Get":
        if name not in volumes:
            return {"Err": "no such volume"}
        return {"Volume": {"Name": name, "Mountpoint": path(name)}, "Err": ""}
    if endpoint == "VolumeDriver.List":
        return {"Volumes": [{"Name": n, "Mountpoint": path(n)} for n in volumes], "Err": ""}
    if endpoint in ("VolumeDriver.Path", "VolumeDriver.Mount"):
        return {"Mountpoint": path(name), "Err": ""}
    if endpoint == "VolumeDriver.Unmount":
        return {"Err": ""}
    return {"Err": "unsupported: " + endpoint}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        try:
            req = json.loads(body) if body.strip() else {}
        except ValueError:
            req = {}
        out = json.dumps(handle(self.path.strip("/"), req or {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write(fmt % args + "\n")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCK):
    os.unlink(SOCK)
srv = Server(SOCK, Handler)
try:
    srv.serve_forever()
finally:
    os.unlink(SOCK)
