"""Package metadata lives in setup.cfg; pbr takes the version from git
(tags, or setup.cfg's version as the next release), as OpenStack projects do."""

import setuptools

setuptools.setup(setup_requires=["pbr>=5.8.0"], pbr=True)
