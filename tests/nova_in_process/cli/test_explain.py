"""``explain`` on the in-process Nova: its verdicts and reasons equal what
the loaded AggregatePciFilter decides (and logs) on the scheduler's own
host states for the same request, where several reasons occur: out of
scope, lacking devices, two flavors together, a claim outside the
definition; and the boot it explains gets "No valid host" or lands where
it says."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import json
import os
import subprocess
from unittest import mock

from nova import objects
from nova.pci import request as pci_request

from aggregate_pci import filter as agg_filter_module
from aggregate_pci.admin.nova_io import cell_reads
from tests.fixtures import cli_run
from tests.fixtures import nova_harness as support
from tests.fixtures.cli_run import AGGREGATE_PCI
from tests.fixtures.nova_harness import GPU_A100, GPU_T4, write_nova_conf

A100 = '{"vendor_id":"10de","product_id":"20b5"}'
T4 = '{"vendor_id":"10de","product_id":"1eb8"}'


class ExplainTest(support.CliTestBase):
    PCI_ALIAS = support.AggregatePciTestBase.PCI_ALIAS + [
        # one alias name over both models (Nova merges the entries)
        {
            "name": name,
            "vendor_id": v,
            "product_id": p,
            "device_type": "type-PCI",
        }
        for name in ("nv-any", "t4-only")
        for v, p in (GPU_A100, GPU_T4)
    ]

    def setUp(self):
        super().setUp()
        # compute1: 2 A100 + 1 T4; compute2: 1 A100; compute3: 2 A100 but
        # in no aggregate; compute4: an A100 first, then a T4
        self.start_compute(
            "compute1",
            pci_info=support.gpu_host(
                [(0x81, GPU_A100), (0x82, GPU_A100), (0x83, GPU_T4)]
            ),
        )
        self.start_compute("compute2", pci_info=support.gpu_host([(0x81, GPU_A100)]))
        self.start_compute(
            "compute3", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_A100)])
        )
        self.start_compute(
            "compute4", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_T4)])
        )
        self.make_aggregate(
            "gpu-hosts",
            ["compute1", "compute2"],
            {
                "pci_flavor:a100": A100,
                "pci_flavor:t4": T4,
                "pci_flavor:nv-any": "[%s,%s]" % (A100, T4),
            },
        )
        # t4-only: its alias takes any NVIDIA GPU, the definition only T4s:
        # the compute's claim (greedy, pool order) would take the A100
        self.make_aggregate("t4-rack", ["compute4"], {"pci_flavor:t4-only": T4})

    def filter_decisions(self, alias_spec):
        """{host: None or the reason} of the loaded filter on the
        scheduler's host states, for a RequestSpec of that request."""
        flavor = objects.Flavor(extra_specs={"pci_passthrough:alias": alias_spec})
        spec = objects.RequestSpec(
            pci_requests=pci_request.get_pci_requests_from_flavor(flavor)
        )
        host_manager = self.scheduler.manager.host_manager
        states = list(host_manager.get_host_states_by_uuids(self.ctxt, None, spec))
        self.assertEqual(4, len(states))
        logged = {}

        def debug(msg, host, why, node=None):
            # "host %s rejected: %s (node %s)"
            logged[host] = why

        with mock.patch.object(agg_filter_module.LOG, "debug", side_effect=debug):
            passed = {s.host for s in self.agg_filter.filter_all(states, spec)}
        out = {s.host: logged.get(s.host) for s in states}
        for host in passed:
            self.assertIsNone(out[host])
        self.assertEqual(set(out) - passed, set(logged))
        return out

    def explain_rows(self, *args):
        # hosts are judged by their free devices: no used device is read
        with mock.patch.object(
            cell_reads, "used_devices", side_effect=AssertionError("used read")
        ):
            rc, out, err = self.cli("explain", *args, "-f", "json")
        rows = {r["Host"]: r for r in json.loads(out)}
        return rc, rows, err

    def check_same(self, alias_spec, expected):
        decisions = self.filter_decisions(alias_spec)
        rc, rows, err = self.explain_rows("--request", alias_spec)
        self.assertEqual(
            {h: (r["Reason"] or None) for h, r in rows.items()}, decisions, err
        )
        self.assertEqual(
            expected, {h: r["Verdict"] for h, r in rows.items()}, alias_spec
        )
        self.assertEqual(0 if None in decisions.values() else 1, rc, err)
        return rows, err

    def test_verdicts_equal_the_filters_decisions(self):
        rows, err = self.check_same(
            "a100:2",
            {
                "compute1": "yes",
                "compute2": "no: lacks devices",
                "compute3": "no: out of scope",
                "compute4": "no: out of scope",
            },
        )
        self.assertIn(
            "1 host can take it now; 2 are out of scope; 1 lacks devices", err
        )
        self.assertEqual({"a100": 2}, rows["compute1"]["Free"])
        self.assertEqual({"a100": ["gpu-hosts"]}, rows["compute1"]["Aggregates"])
        self.assertEqual("passes", rows["compute1"]["PciPassthroughFilter"])
        # Nova's own filter sees compute3's A100s: only ours scopes it out
        self.assertEqual("passes", rows["compute3"]["PciPassthroughFilter"])
        # two flavors together: 3 NVIDIA GPUs on compute1, 4 asked
        rows, _ = self.check_same(
            "a100:2,nv-any:2",
            {
                "compute1": "no: lacks devices",
                "compute2": "no: lacks devices",
                "compute3": "no: out of scope",
                "compute4": "no: out of scope",
            },
        )
        self.assertEqual(
            "PCI flavors a100+nv-any together could not be served: "
            "3 free device(s) matched, 4 asked for",
            rows["compute1"]["Reason"],
        )
        # the claim would take the A100 for t4-only on compute4
        rows, err = self.check_same(
            "t4-only:1",
            {
                "compute1": "no: out of scope",
                "compute2": "no: out of scope",
                "compute3": "no: out of scope",
                "compute4": "no: claim would fail",
            },
        )
        self.assertIn(
            "the compute's claim would take 0000:81:00.0", rows["compute4"]["Reason"]
        )
        self.assertIn("0 hosts can take it now", err)
        self.assertIn("1 would fail the compute's claim check", err)

    def test_server_by_name_or_id_in_both_front_ends(self):
        flavor_id = self.nova_flavor("a100:2", name="gpu")
        one = self.boot(flavor_id, name="vm3")
        self.boot(flavor_id, expected_state="ERROR", name="twin")
        self.boot(flavor_id, expected_state="ERROR", name="twin")
        factory = cli_run.admin_over(self.keystone_session())
        for front_end in ("aggregate-pci", "openstack"):
            with self.subTest(front_end=front_end):

                def explain(server, front_end=front_end):
                    return cli_run.run_front_end(
                        front_end,
                        ["explain", "--server", server, "-f", "json"],
                        factory,
                        self.ctxt,
                    )

                by_name, by_id = explain("vm3"), explain(one["id"])
                self.assertEqual(by_id, by_name)
                self.assertEqual(1, by_name[0], by_name[2])
                self.assertIn(
                    "server %s: Nova flavor 'gpu-a100-2'" % one["id"], by_name[2]
                )
                rc, out, err = explain("twin")
                self.assertEqual((1, ""), (rc, out), err)
                (line,) = err.strip().splitlines()
                self.assertIn("server name 'twin' is ambiguous: 2 servers", line)
                self.assertIn("give the server's ID", line)
                rc, out, err = explain("vm4")
                self.assertEqual((1, ""), (rc, out), err)
                (line,) = err.strip().splitlines()
                self.assertIn("no server with name or ID 'vm4'", line)

    def test_nova_flavor_boot_and_separate_process(self):
        flavor_id = self.nova_flavor("a100:2", name="gpu")
        rc, rows, err = self.explain_rows("--nova-flavor", "gpu-a100-2")
        self.assertEqual(0, rc, err)
        self.assertEqual("yes", rows["compute1"]["Verdict"])
        server = self.boot(flavor_id)
        self.assertEqual("compute1", self.host_of(server))
        # now no host can take a second one: explain says why, exit 1,
        # and the boot indeed gets No valid host
        rc, rows, err = self.explain_rows("--nova-flavor", "gpu-a100-2")
        self.assertEqual(1, rc, err)
        self.assertEqual(
            "PCI flavor 'a100' could not be served: 0 free device(s) matched, "
            "2 asked for",
            rows["compute1"]["Reason"],
        )
        self.assertIn(
            "0 hosts can take it now; 2 are out of scope; 2 lack devices", err
        )
        failed = self.boot(flavor_id, expected_state="ERROR")
        self.assertIn("No valid host", failed["fault"]["message"])
        # --server: that server's request, read from Nova's databases
        rc, server_rows, err = self.explain_rows("--server", failed["id"])
        self.assertEqual(1, rc, err)
        self.assertEqual(rows, server_rows)
        self.assertIn("server %s: Nova flavor 'gpu-a100-2', error" % failed["id"], err)
        self.assertIn("No valid host was found", err)
        # narrowing
        rc, rows, _ = self.explain_rows("--request", "a100:1", "--host", "compute2")
        self.assertEqual((0, ["compute2"]), (rc, list(rows)))
        rc, rows, _ = self.explain_rows("--request", "a100:1", "--aggregate", "t4-rack")
        self.assertEqual((1, ["compute4"]), (rc, list(rows)))
        # a separate process given a nova.conf (with the [pci] alias), then
        # offline from an exported inventory
        conf = write_nova_conf(self)
        with open(conf, "a") as f:
            f.write("[pci]\n")
            for entry in self.PCI_ALIAS:
                f.write("alias = %s\n" % json.dumps(entry))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        runs = []
        for args in (
            ["--config-file", conf, "--server", failed["id"]],
            ["--config-file", conf, "--nova-flavor", "gpu-a100-2"],
            ["--config-file", conf, "--request", "a100:1"],
            ["--config-file", conf, "--request", "t4-only:1"],
        ):
            proc = subprocess.run(
                [AGGREGATE_PCI, "explain", *args],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
            runs.append((args, proc))
        server_run = runs.pop(0)[1]
        self.assertEqual(1, server_run.returncode, server_run.stderr)
        self.assertIn("No valid host was found", server_run.stderr)
        self.assertEqual(runs[0][1].stdout, server_run.stdout)
        self.assertEqual(1, runs[0][1].returncode, runs[0][1].stderr)
        self.assertIn("0 hosts can take it now", runs[0][1].stderr)
        self.assertEqual(0, runs[1][1].returncode, runs[1][1].stderr)
        self.assertIn("1 host can take it now", runs[1][1].stderr)
        self.assertIn("claim would fail", runs[2][1].stdout)
        runs.insert(0, (["--config-file", conf, "--server", failed["id"]], server_run))
        inv = os.path.join(os.path.dirname(conf), "inv.json")
        rc, _, err = self.cli("inventory", "export", "--output", inv)
        self.assertEqual(0, rc, err)
        proc = subprocess.run(
            [AGGREGATE_PCI, "explain", "--inventory", inv, "--request", "t4-only:1"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        runs.append((["--inventory", "inv.json", "--request", "t4-only:1"], proc))
        # offline the claim is not replayed, and it says so
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn("not replayed offline", proc.stdout)
        self.assertIn("(1 of them only if the compute's claim", proc.stderr)
        transcript = os.environ.get("AGGREGATE_PCI_EXPLAIN_TRANSCRIPT")
        if transcript:  # for docs/admin-guide.md
            with open(transcript, "w") as f:
                for args, proc in runs:
                    shown = " ".join(args).replace(conf, "nova.conf")
                    f.write("$ aggregate-pci explain %s\n" % shown)
                    f.write(proc.stdout + proc.stderr)
                    f.write("(exit status %d)\n\n" % proc.returncode)
