import pytest

import installenv


@pytest.fixture
def host(tmp_path):
    """The client, sinkhole host and resolver namespaces (installenv.network)."""
    with installenv.network(tmp_path) as topo:
        yield topo
