"""tools/cloud/cloud.sh (issue 20): apt waits for its lock, and SIGTERM or
SIGINT during ``up`` stop the step in flight and what was started.

``up`` runs with a PATH holding only the basic tools and a fake ``apt-get``
(it records its arguments and sleeps), so the first step, installing the
missing packages (gcc is not on that PATH), is where the signal lands."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from tests.fixtures import paths

CLOUD_SH = str(paths.ROOT / "tools" / "cloud" / "cloud.sh")
TOOLS = ("bash", "dirname", "mkdir", "chmod", "date", "cat", "id", "timeout",
         "env", "sleep", "rm", "cp", "python3")  # fmt: skip
FAKE_APT = """#!/bin/bash
echo "$*" >> "%(log)s"
exec sleep 60
"""


@unittest.skipIf(os.geteuid() != 0, "cloud.sh uses sudo for apt when not root")
class CloudShSignalsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin)
        for tool in TOOLS:
            os.symlink(shutil.which(tool), os.path.join(self.bin, tool))
        self.apt_log = os.path.join(self.tmp, "apt.log")
        fake = os.path.join(self.bin, "apt-get")
        with open(fake, "w") as f:
            f.write(FAKE_APT % {"log": self.apt_log})
        os.chmod(fake, 0o755)

    def up_then(self, sig):
        env = {"PATH": self.bin, "HOME": self.tmp, "LC_ALL": "C.UTF-8"}
        proc = subprocess.Popen(
            ["bash", CLOUD_SH, "up", os.path.join(self.tmp, "cloud")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 30
        while not os.path.exists(self.apt_log) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(self.apt_log), "apt-get never ran")
        start = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, time.monotonic() - start, err

    def test_sigterm_stops_apt_and_up_at_once(self):
        rc, took, err = self.up_then(signal.SIGTERM)
        self.assertEqual(143, rc, err)
        self.assertLess(took, 10, err)
        self.assertIn("interrupted", err)
        self.assertIn("up failed; stopping what was started", err)
        with open(self.apt_log) as f:
            self.assertIn("-o DPkg::Lock::Timeout=300 update", f.read())
        # the fake apt-get (a sleep 60) is gone too
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
        self.assertNotIn("sleep 60", ps.stdout)

    def test_sigint_stops_up(self):
        rc, took, err = self.up_then(signal.SIGINT)
        self.assertEqual(130, rc, err)
        self.assertLess(took, 10, err)


if __name__ == "__main__":
    unittest.main()
