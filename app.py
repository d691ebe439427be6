"""The HTTP API (Chalice). Thin: each feature's routes live in a blueprint in chalicelib/http/."""

from chalice import Chalice

app = Chalice(app_name="julo-reminders")

from chalicelib.http.health import health  # noqa: E402

app.register_blueprint(health)

from chalicelib.http.callbacks_api import callbacks  # noqa: E402

app.register_blueprint(callbacks)
