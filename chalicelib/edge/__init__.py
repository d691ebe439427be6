"""The Lambda edge shared by every function in functions/ (and, for connections, the HTTP API).

- ``sqs.SqsBatchHandler``: SQS batch with partial batch responses and visibility backoff;
- ``schedule.ScheduledHandler``: EventBridge schedules (firing time, business date);
- ``connection.ConnectionLifetime``: one connection lifetime (ping, reconnect, rollback);
- ``clock``: an event's time and the business date it falls on in a zone;
- ``backoff.Backoff``: the retry delays.

A handler module is a few declarative lines: the domain call, its poison errors, its settings.
"""
