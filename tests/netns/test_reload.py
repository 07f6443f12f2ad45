#!/usr/bin/env python3
"""Policy reload (DESIGN section 6): on SIGHUP and on a change of the policy file.

* Saving a policy that changes one class (video's path order) moves that class within about a
  second of the save, while an established TCP connection of another class (default, on wan1)
  keeps exchanging data on the same uplink, without an error or a lost echo.
* A bad save (a misspelt key), an empty (truncated) file, a deleted file and a SIGHUP with a bad
  file are each rejected whole: the errors (file:line:col) show in status, the policy
  generation stays, and real traffic stays where the running policy sends it. Saving a good
  policy again clears the errors.
* A prefix file a class names (dst_file, in another directory than the policy) is watched too:
  saving it with the receivers' address moves that traffic to the class's uplink though the
  policy's text is the same; a bad line in it is rejected (file:line:col) and traffic stays."""

import os
import signal
import socket
import threading
import time
import unittest

from fixture import (DST_V4, LAN_V4, UPLINKS, NetnsTestCase, in_netns,
                     wait_until)

VIDEO, DEFAULT = 5001, 5002
TCP_PORT = 7000


class EchoServer:
    """A TCP echo server bound to DST_V4:TCP_PORT inside one uplink's far-end namespace; counts
    the bytes it echoed."""

    def __init__(self, ns):
        self.bytes = 0
        self.sock = in_netns(ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((DST_V4, TCP_PORT))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        conn.settimeout(0.2)
        with conn:
            while not self.stop:
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                self.bytes += len(data)
                conn.sendall(data)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


class Reload(NetnsTestCase):

    def setUp(self):
        super().setUp()
        self.policy, self.text = self.private_policy()
        self.start_daemon(policy=self.policy)
        self.topo.wait_all_up()

    def save(self, text):
        """Saves like an editor: a temp file renamed over the policy."""
        tmp = self.policy + ".swp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.policy)

    def where(self, port):
        result = self.topo.run_stream(port, count=200, rate=1000)
        return {u for u in UPLINKS if result.count(u) > 0}

    def test_changing_one_class_keeps_another_class_flow(self):
        servers = {u: EchoServer(self.topo.ns[f"up{i + 1}"]) for i, u in enumerate(UPLINKS)}
        self.addCleanup(lambda: [s.close() for s in servers.values()])
        client = in_netns(self.topo.ns["lan"],
                          lambda: socket.create_connection((DST_V4, TCP_PORT), timeout=2))
        self.addCleanup(client.close)
        errors, echoed, stop = [], [0], threading.Event()

        def talk():
            i = 0
            while not stop.is_set():
                msg = f"{i:08d}\n".encode()
                try:
                    client.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        chunk = client.recv(len(msg) - len(got))
                        if not chunk:
                            raise ConnectionError("closed by the far end")
                        got += chunk
                    if got != msg:
                        raise ValueError(f"echo {got!r} != {msg!r}")
                    echoed[0] += 1
                except (OSError, ValueError) as e:
                    errors.append(repr(e))
                    return
                i += 1
                time.sleep(0.01)

        talker = threading.Thread(target=talk, daemon=True)
        talker.start()
        wait_until(lambda: echoed[0] >= 20, 5, "the TCP flow to exchange 20 echoes")
        self.assertEqual(servers["wan2"].bytes, 0, "the default class's flow must be on wan1")
        self.assertEqual(self.where(VIDEO), {"wan2"})
        gen = self.topo.status()["policy_generation"]

        marker = "    paths: [wan2, wan1]\n"
        self.assertEqual(self.text.count(marker), 1, "two-wan.yaml's video class changed shape")
        saved = time.monotonic()
        self.save(self.text.replace(marker, "    paths: [wan1, wan2]\n"))
        wait_until(lambda: self.topo.klass("video")["uplink"] == "wan1", 3,
                   "class video on wan1 after the policy file changed")
        print(f"\nvideo moved {(time.monotonic() - saved) * 1000:.0f} ms after the save")
        self.assertEqual(self.topo.status()["policy_generation"], gen + 1)
        self.assertEqual(self.where(VIDEO), {"wan1"})
        before = echoed[0]
        wait_until(lambda: echoed[0] >= before + 50 or errors, 5,
                   "50 more echoes after the reload")
        stop.set()
        talker.join(2)
        self.assertEqual(errors, [], "the default class's TCP flow broke across the reload")
        self.assertEqual(servers["wan2"].bytes, 0, "the TCP flow hopped to wan2")
        self.assertGreaterEqual(servers["wan1"].bytes, 9 * echoed[0])
        self.assertEqual(self.topo.status()["policy_errors"], [])

    def wait_rejected(self, what, needle):
        st = wait_until(lambda: (s := self.topo.status())["policy_rejections"] > self.rejections
                        and s, 3, f"status to report the rejected policy ({what})")
        self.rejections = st["policy_rejections"]
        joined = "\n".join(st["policy_errors"])
        self.assertIn(needle, joined, what)
        return st

    def test_bad_reloads_keep_the_running_policy(self):
        gen = self.topo.status()["policy_generation"]
        self.rejections = self.topo.status()["policy_rejections"]
        bad = self.text.replace("interval_ms:", "intervl_ms:", 1)
        self.save(bad)
        st = self.wait_rejected("misspelt key", "did you mean 'interval_ms'")
        self.assertRegex(st["policy_errors"][0], r"policy\.yaml:\d+:\d+: ")

        self.save("")
        self.wait_rejected("empty file", "policy.yaml")

        os.unlink(self.policy)
        self.wait_rejected("deleted file", "deleted")

        self.save(bad)
        self.wait_rejected("the misspelt key again", "intervl_ms")
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        self.wait_rejected("SIGHUP with a bad file", "intervl_ms")

        st = self.topo.status()
        self.assertEqual(st["policy_generation"], gen, "a rejected policy must not be adopted")
        self.assertTrue(st["synced"] is False or st["policy_errors"])
        self.assertEqual(self.topo.klass("video", st)["uplink"], "wan2")
        self.assertEqual(self.where(VIDEO), {"wan2"})
        self.assertEqual(self.where(DEFAULT), {"wan1"})

        self.save(self.text.replace("    paths: [wan2, wan1]\n", "    paths: [wan1, wan2]\n"))
        wait_until(lambda: not self.topo.status()["policy_errors"], 3,
                   "the errors to clear after a good save")
        self.assertEqual(self.topo.status()["policy_generation"], gen + 1)
        self.assertEqual(self.where(VIDEO), {"wan1"})

    def test_a_changed_prefix_file_reloads(self):
        lists = os.path.join(self.topo.tmpdir, "lists")
        os.mkdir(lists)
        far = os.path.join(lists, "far.txt")

        def save_list(text):
            with open(far + ".tmp", "w") as f:
                f.write(text)
            os.rename(far + ".tmp", far)

        save_list("# not the receivers yet\n198.51.100.0/24\n")
        marker = "  default:\n"
        self.assertEqual(self.text.count(marker), 1, "two-wan.yaml's default class changed shape")
        gen = self.topo.status()["policy_generation"]
        self.save(self.text.replace(marker, "  listed:\n    match: [ { dst_file: lists/far.txt } ]\n"
                                    "    paths: [wan2, wan1]\n" + marker))
        wait_until(lambda: self.topo.status()["policy_generation"] == gen + 1, 3,
                   "the policy with the listed class")
        self.assertEqual(self.where(DEFAULT), {"wan1"})

        saved = time.monotonic()
        save_list(f"198.51.100.0/24\n{DST_V4}\n")
        wait_until(lambda: self.topo.status()["policy_generation"] == gen + 2, 3,
                   "a reload after the prefix file changed")
        print(f"\nthe changed prefix file was in force {(time.monotonic() - saved) * 1000:.0f} ms "
              "after its save")
        self.assertEqual(self.where(DEFAULT), {"wan2"})

        self.rejections = self.topo.status()["policy_rejections"]
        save_list(f"{DST_V4}\n  203.0.113.0/16\n")
        st = self.wait_rejected("host bits in the prefix file", f"{far}:2:3: invalid prefix: "
                                "'203.0.113.0/16' has host bits set beyond /16")
        self.assertEqual(st["policy_generation"], gen + 2)
        self.assertEqual(self.where(DEFAULT), {"wan2"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
