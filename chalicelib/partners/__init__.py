"""Partner views ("Follow the Money"), the staff CRM list, the push-notification catalogue,
and API keys for them (``python -m chalicelib.partners create-key --partner <id> | --staff``)."""
