"""The HTTP API (Chalice). Thin: each feature's routes live in a blueprint in chalicelib/http/."""

from chalice import Chalice

from chalicelib.http.analytics_api import analytics_api
from chalicelib.http.callbacks_api import callbacks
from chalicelib.http.chalice_errors import chalice_errors
from chalicelib.http.contact_api import contact_api
from chalicelib.http.crm_api import crm_api
from chalicelib.http.health import health
from chalicelib.http.partner_api import partner_api
from chalicelib.http.pn_api import pn_api
from chalicelib.http.sms_callbacks_api import sms_callbacks
from chalicelib.http.sms_inbound_api import sms_inbound
from chalicelib.settings import check_api_cold_start

check_api_cold_start()  # deployed: a missing setting fails the cold start, naming it
app = Chalice(app_name="julo-reminders")

app.register_blueprint(chalice_errors)
app.register_blueprint(health)
app.register_blueprint(callbacks)
app.register_blueprint(sms_callbacks)
app.register_blueprint(sms_inbound)
app.register_blueprint(partner_api)
app.register_blueprint(crm_api)
app.register_blueprint(contact_api)
app.register_blueprint(pn_api)
app.register_blueprint(analytics_api)
