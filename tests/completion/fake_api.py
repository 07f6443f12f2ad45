#!/usr/bin/env python3
"""A stand-in for pathsteerd's API for the completion test: GET /v1/status and /v1/intents
with canned bodies of the real shapes (names only matter here). Listens on 127.0.0.1 at a
free port and, given a path as its argument, on that unix socket too (as the packaged daemon
does); prints the port on stdout, serves until killed.
usage: fake_api.py [UNIX_SOCKET_PATH]"""

import http.server
import json
import socketserver
import sys
import threading

STATUS = {"version": "fake", "policy_generation": 1, "synced": True,
          "wans": [{"name": "wan1", "interface": "eth1"}, {"name": "wan2", "interface": "eth2"}],
          "classes": [{"name": "video", "uplink": "wan2"}, {"name": "default", "uplink": "wan1"}],
          "intents": []}
INTENTS = {"intents": [{"id": "i-00000000000000a1", "class": "video", "paths": ["wan1"]}]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = {"/v1/status": STATUS, "/v1/intents": INTENTS}.get(self.path)
        code = 200 if body is not None else 404
        data = json.dumps(body if body is not None else
                          {"error": {"code": "not_found", "message": self.path}}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class UnixHandler(Handler):
    def address_string(self):
        return "unix"


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) > 1:
    unix = socketserver.UnixStreamServer(sys.argv[1], UnixHandler)
    threading.Thread(target=unix.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
