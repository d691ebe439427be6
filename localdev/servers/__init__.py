"""The local servers and their tools: PostgreSQL (``postgres``, ``db_backup``), moto (``moto_server``),
the HTTP API (``api``, ``gateway_handler``) and the ports they listen on (``ports``)."""
