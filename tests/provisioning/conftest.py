import pytest

from schemehost.platform.extensions import db


@pytest.fixture
def spares(app):
    """Fill the warm pool with ``n`` spare schemas at head."""
    from schemehost.provisioning.pool import refill_pool

    def fill(n=1):
        with app.app_context():
            refill_pool(db.session, size=n)

    return fill


@pytest.fixture
def empty_pool(app):
    from schemehost.provisioning.pool import drain_pool

    with app.app_context():
        drain_pool(db.session)
