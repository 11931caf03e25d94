"""docs/admin-guide.md's walkthrough is what the cloud prints.

tools/docs/walkthrough.py runs the walkthrough's ``openstack`` / ``aggregate-pci``
commands on the cloud (and deletes what they created, checking that none of
it is listed afterwards, so this module can run before or after
test_operator_flow.py on the same cloud); the normalised transcript must
equal the page's generated block byte for byte.
"""

import importlib.util
import pathlib

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "walkthrough", _ROOT / "tools" / "docs" / "walkthrough.py"
)
walkthrough = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(walkthrough)
PAGE = str(_ROOT / "docs" / "admin-guide.md")


def test_admin_guide_walkthrough_is_what_the_cloud_prints(cloud):
    env = walkthrough.cloud_env(str(cloud.root))
    text = walkthrough.transcript(env)
    diff = walkthrough.docblock.block_diff(
        PAGE, walkthrough.BEGIN, walkthrough.END, walkthrough.page_block_text(text)
    )
    assert not diff, (
        "docs/admin-guide.md's walkthrough differs from the cloud's output "
        "(regenerate: python3 tools/docs/walkthrough.py --cloud DIR --write "
        "docs/admin-guide.md):\n" + diff
    )
