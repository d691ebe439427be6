"""The HTTP API (Chalice). Thin: each feature's routes live in a blueprint in chalicelib/http/."""

from chalice import Chalice

app = Chalice(app_name="julo-reminders")

from chalicelib.http.health import health  # noqa: E402

app.register_blueprint(health)

from chalicelib.http.callbacks_api import callbacks  # noqa: E402

app.register_blueprint(callbacks)

from chalicelib.http.chalice_errors import chalice_errors  # noqa: E402
from chalicelib.http.crm_api import crm_api  # noqa: E402
from chalicelib.http.partner_api import partner_api  # noqa: E402
from chalicelib.http.pn_api import pn_api  # noqa: E402

app.register_blueprint(chalice_errors)
app.register_blueprint(partner_api)
app.register_blueprint(crm_api)
app.register_blueprint(pn_api)

from chalicelib.http.analytics_api import analytics_api  # noqa: E402

app.register_blueprint(analytics_api)
