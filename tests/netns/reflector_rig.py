"""`pathsteer reflector` run inside a namespace of a netns test's topology (standard library
only): started with nsenter, waited for by polling its log, stopped with SIGTERM (it must exit
0), its counters read from the lines it logs when stopping."""

import itertools
import os
import re
import signal
import subprocess

from fixture import wait_until

STOP_LINE = re.compile(r"reflector (\S+): stopping; (.*)$")
COUNTER = re.compile(r"([a-z][a-z ]*) (\d+)")


class Reflector:
    """`pathsteer reflector ARGS` in namespace `role` of `topo`, with its own log file. Returns
    from the constructor once the log has `ready` (by default the line logged after dropping
    privileges, so every socket is bound); fails at once if it exits first. kill() is for
    cleanups; a test ends it with stop()."""

    _ids = itertools.count()  # one log file per reflector started

    def __init__(self, topo, binary, role, args=(), ready="running as uid"):
        self.topo, self.role = topo, role
        self.log_path = os.path.join(topo.tmpdir, f"reflector-{role}-{next(self._ids)}.log")
        cmd = ["nsenter", f"--net=/run/netns/{topo.ns[role]}", "--", binary, "reflector",
               *args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

        def started():
            if self.proc.poll() is not None:
                raise AssertionError(f"reflector in {role} exited with {self.proc.returncode}:"
                                     f"\n{self.log()}")
            return ready in self.log()

        wait_until(started, 10, f"the reflector in {role} to log {ready!r}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM (it must exit 0); returns {listen address: {counter: value}} from the lines
        it logs when stopping."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(10)
        text = self.log()
        if rc != 0:
            raise AssertionError(f"reflector in {self.role} exited {rc} on SIGTERM:\n{text}")
        stats = {}
        for line in text.splitlines():
            m = STOP_LINE.search(line)
            if m:
                stats[m.group(1)] = {k: int(v) for k, v in COUNTER.findall(m.group(2))}
        return stats
