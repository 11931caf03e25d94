"""aggregate_pci.admin.nova_io.translate: keystoneauth1's exceptions as
our errors (unreachable, HTTP 500)."""

from aggregate_pci.admin import errors
from tests.fixtures.fake_nova import URL, AdminTestBase


class TranslateTest(AdminTestBase):
    """A transport failure and a server error as one clear error each."""

    def test_unreachable(self):
        import requests

        self.mock.get(
            URL + "/os-aggregates", exc=requests.exceptions.ConnectionError("refused")
        )
        with self.assertRaises(errors.Unreachable) as ctx:
            self.admin.list_aggregates()
        self.assertIn("unreachable", str(ctx.exception))

    def test_server_error(self):
        self.mock.get(
            URL + "/os-aggregates",
            status_code=500,
            json={"computeFault": {"code": 500, "message": "boom"}},
        )
        with self.assertRaises(errors.AdminError) as ctx:
            self.admin.list_aggregates()
        self.assertIn("HTTP 500", str(ctx.exception))
