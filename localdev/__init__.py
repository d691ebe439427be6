"""Local emulation: PostgreSQL, moto, fake providers and the demo. Not deployed."""
