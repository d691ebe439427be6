"""HTTP route blueprints registered by app.py, one module per feature."""
