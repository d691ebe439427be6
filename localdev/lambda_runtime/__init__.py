"""AWS Lambda on this machine: ``runtime.LambdaRuntime`` runs the template's functions in a container
per function (``containers`` / ``container``, forked from ``warm_start``) or in process, with the
contexts and trigger events of ``events``."""
