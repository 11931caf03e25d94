"""The cloud's MariaDB, as root over its socket (tests/cloud/ and
tools/bench_cloud_scheduler.py)."""

import pathlib
import subprocess


def sql_rows(root: pathlib.Path, query: str) -> list[list[str]]:
    """Rows (lists of str) of QUERY in the cloud under ROOT (tools/cloud.sh DIR)."""
    sock = pathlib.Path(root) / "mariadb" / "sock"
    proc = subprocess.run(
        ["mariadb", "--no-defaults", "--socket", str(sock), "-uroot", "-N", "-B"],
        input=query,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode:
        raise RuntimeError(
            f"mariadb over {sock} failed ({proc.stderr.strip()}) for: {query}; "
            "is the cloud up (tools/cloud.sh status DIR)?"
        )
    return [line.split("\t") for line in proc.stdout.splitlines()]
