#!/usr/bin/env python3
"""Listening off loopback (DESIGN §8, issue 14).

A --listen address off loopback is refused at start without a token file, and without TLS
unless --insecure-http, which warns in the log; with --tls-cert/--tls-key the API answers HTTPS
(TLS 1.2+) from the LAN, a change still needs the token, and plain HTTP to that port gets no
answer."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import unittest

from fixture import GW_LAN_V4, NetnsTestCase, in_netns, run

PORT = 9443


class Listen(NetnsTestCase):

    def daemon_fails(self, *extra):
        """Runs pathsteerd with `extra` args; it must exit non-zero. Returns its stderr."""
        policy, _ = self.private_policy()
        cmd = ["nsenter", f"--net=/run/netns/{self.topo.ns['gw']}", "--", self.bin["PATHSTEERD"],
               "--policy", policy, "--state-dir", self.topo.state_dir,
               "--pin-dir", self.topo.pin_dir, *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        return proc.stderr

    def test_off_loopback_needs_a_token_and_tls_or_an_explicit_waiver(self):
        err = self.daemon_fails("--listen", f"{GW_LAN_V4}:{PORT}")
        self.assertIn("--token-file", err)
        token_file, _ = self.topo.write_token()
        err = self.daemon_fails("--listen", f"{GW_LAN_V4}:{PORT}", "--token-file", token_file)
        self.assertIn("--tls-cert", err)
        self.assertIn("--insecure-http", err)
        err = self.daemon_fails("--listen", "localhost:9370")
        self.assertIn("numeric", err)
        # With the waiver: plain HTTP from the LAN, and a warning at start.
        self.start_daemon(extra_args=["--listen", f"{GW_LAN_V4}:{PORT}",
                                      "--token-file", token_file, "--insecure-http"])
        self.assertIn("--insecure-http", self.topo.daemon.log_tail(200))
        conn = in_netns(self.topo.ns["lan"], lambda: http.client.HTTPConnection(
            GW_LAN_V4, PORT, timeout=5))
        in_netns(self.topo.ns["lan"], conn.connect)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_tls(self):
        cert, key = (os.path.join(self.topo.tmpdir, n) for n in ("cert.pem", "key.pem"))
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=pathsteer-test", "-addext",
             f"subjectAltName=IP:{GW_LAN_V4}", "-keyout", key, "-out", cert])
        token_file, token = self.topo.write_token()
        self.start_daemon(extra_args=["--listen", f"{GW_LAN_V4}:{PORT}", "--token-file",
                                      token_file, "--tls-cert", cert, "--tls-key", key])
        ctx = ssl.create_default_context(cafile=cert)

        def call(method, path, body=None, token=None):
            conn = http.client.HTTPSConnection(GW_LAN_V4, PORT, timeout=5, context=ctx)
            in_netns(self.topo.ns["lan"], conn.connect)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            return resp.status, data, conn

        status, data, _ = call("GET", "/v1/status")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["policy_generation"], 1)
        intent = {"class": "video", "paths": ["wan1"], "ttl_s": 30}
        self.assertEqual(call("POST", "/v1/intents", intent)[0], 401)
        self.assertEqual(call("POST", "/v1/intents", intent, token)[0], 201)
        # The negotiated protocol is TLS 1.2 or newer.
        sock = in_netns(self.topo.ns["lan"], lambda: socket.create_connection((GW_LAN_V4, PORT),
                                                                               timeout=5))
        with ctx.wrap_socket(sock, server_hostname=GW_LAN_V4) as tls:
            self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        # Plain HTTP to the TLS port is not served.
        sock = in_netns(self.topo.ns["lan"], lambda: socket.create_connection((GW_LAN_V4, PORT),
                                                                               timeout=5))
        sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            reply = sock.recv(64)
        except OSError:
            reply = b""
        sock.close()
        self.assertFalse(reply.startswith(b"HTTP/1.1 200"), reply)
        self.topo.daemon.check_alive()


if __name__ == "__main__":
    unittest.main(verbosity=2)
