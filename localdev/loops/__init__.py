"""The long-running local loops of the LocalStack compose file: the SQS ``workers``, the EventBridge
``scheduler`` (``cron`` expressions) and their ``heartbeat`` files."""
