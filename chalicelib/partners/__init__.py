"""Partner views ("Follow the Money": summary, report) and the API keys of the HTTP API
(``python -m chalicelib.partners create-key --partner <id> | --staff --owner <name>``)."""
