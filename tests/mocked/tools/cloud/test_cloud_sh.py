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
exec -a %(marker)s sleep 60
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
        # the fake apt-get's process name, to find it (and clean it up)
        self.marker = "fake-apt-" + os.path.basename(self.tmp)
        self.addCleanup(subprocess.run, ["pkill", "-f", self.marker])
        with open(fake, "w") as f:
            f.write(FAKE_APT % {"log": self.apt_log, "marker": self.marker})
        os.chmod(fake, 0o755)

    def up_then(self, sig):
        env = {"PATH": self.bin, "HOME": self.tmp, "LC_ALL": "C.UTF-8"}
        proc = subprocess.Popen(
            ["bash", CLOUD_SH, "up", os.path.join(self.tmp, "cloud")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # SIGINT as an operator's shell gives it (a background job, as
            # a CI runner may start this, inherits it ignored: untrappable).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
        # the fake apt-get is gone too
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
        self.assertNotIn(self.marker, ps.stdout)

    def test_sigint_stops_up(self):
        rc, took, err = self.up_then(signal.SIGINT)
        self.assertEqual(130, rc, err)
        self.assertLess(took, 10, err)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
        self.assertNotIn(self.marker, ps.stdout)


if __name__ == "__main__":
    unittest.main()


class CloudShRestartTest(unittest.TestCase):
    """``restart NAME DIR`` starts a killed service again with the command
    ``up`` recorded (``run/NAME.cmd``) and returns once its log says it
    serves; only the scheduler and the conductor."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.makedirs(os.path.join(self.dir, "run"))
        os.makedirs(os.path.join(self.dir, "log"))

    def restart(self, name):
        return subprocess.run(
            ["bash", CLOUD_SH, "restart", name, self.dir],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_restarts_the_recorded_command_and_waits_for_its_line(self):
        run = os.path.join(self.dir, "run")
        with open(os.path.join(run, "scheduler.cmd"), "w") as f:
            # What `start` records: the argv, shell-quoted.
            f.write(
                "bash -c 'sleep 1; echo Starting\\ scheduler\\ node; exec sleep 60' "
            )
        with open(os.path.join(run, "scheduler.pid"), "w") as f:
            f.write("999999999\n")  # killed: no such process
        with open(os.path.join(self.dir, "log", "scheduler.log"), "w") as f:
            f.write("Starting scheduler node (the run before the kill)\n")
        proc = self.restart("scheduler")
        with open(os.path.join(run, "scheduler.pid")) as f:
            pid = int(f.read())
        self.addCleanup(os.killpg, pid, signal.SIGKILL)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("scheduler restarted (pid %d)" % pid, proc.stderr)
        os.kill(pid, 0)  # alive
        with open(os.path.join(self.dir, "log", "scheduler.log")) as f:
            self.assertEqual(f.read().count("Starting scheduler node"), 2)

    def test_refuses_other_services(self):
        proc = self.restart("compute1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("only scheduler and conductor can be restarted", proc.stderr)

    def test_needs_the_recorded_command(self):
        proc = self.restart("conductor")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("run/conductor.cmd", proc.stderr)
