"""Domain and adapter code for the payments-reminder and partner-reporting backend."""
