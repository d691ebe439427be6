"""Account-level reads moto 5.2.5 does not answer, answered from moto's own state.

    python -m localdev.aws.moto_account -H 127.0.0.1 -p PORT    # a moto server for preflight runs

``python -m infra.preflight`` reads the target account before a deploy; two of its reads have
no moto implementation. ``install()`` adds them (the moto server installs it at start,
``localdev/aws/moto_iam.py``; tests that use moto in-process call it themselves):

- Lambda ``GetAccountSettings``: ``AccountLimit.ConcurrentExecutions`` is the account's
  concurrency quota: the backend's ``account_concurrency_quota`` if a test set it, else
  ``MOTO_LAMBDA_CONCURRENCY_QUOTA`` (moto's own knob, which its ``PutFunctionConcurrency``
  already enforces, keeping 100 unreserved as Lambda does), else 1,000 (Lambda's default).
  ``UnreservedConcurrentExecutions`` is the quota less every function's reserved concurrency.
- SES v2 ``GetAccount``: ``ProductionAccessEnabled`` is the backend's
  ``production_access_enabled`` (default False: a new account is in the SES sandbox, whose
  quota -- 200 messages a day, 1 a second -- is what moto's SES v1 ``GetSendQuota`` answers);
  with production access the quota is SES's usual starting one (50,000 a day, 14 a second).

Nothing else changes: the answers are what AWS's APIs return, in AWS's shapes.

The server this module runs has no IAM enforcement (the preflight reads with the account's
administrator credentials anyway): moto 5.2.5's enforcement miscomputes the signature of REST
``GET`` requests (Lambda, API Gateway), so the IAM-enforced server of the local day
(``localdev/aws/moto_iam.py``) answers those with SignatureDoesNotMatch.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

LAMBDA_DEFAULT_CONCURRENCY_QUOTA = 1000
SANDBOX_QUOTA = (200.0, 1.0)  # SES sandbox: messages per 24 hours, per second
PRODUCTION_QUOTA = (50_000.0, 14.0)


def lambda_concurrency_quota(backend: Any) -> int:
    set_by_test = getattr(backend, "account_concurrency_quota", None)
    if set_by_test is not None:
        return int(set_by_test)
    return int(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA") or LAMBDA_DEFAULT_CONCURRENCY_QUOTA)


def _get_account_settings(self: Any) -> str:
    backend = self.backend
    functions = list(backend.list_functions())
    quota = lambda_concurrency_quota(backend)
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    return json.dumps({
        "AccountLimit": {"TotalCodeSize": 80_530_636_800, "CodeSizeUnzipped": 262_144_000,
                         "CodeSizeZipped": 52_428_800, "ConcurrentExecutions": quota,
                         "UnreservedConcurrentExecutions": quota - reserved},
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
    })


def _get_account(self: Any) -> str:
    from moto.ses import ses_backends

    production = bool(getattr(self.sesv2_backend, "production_access_enabled", False))
    per_day, per_second = PRODUCTION_QUOTA if production else SANDBOX_QUOTA
    sent = ses_backends[self.current_account][self.region].sent_message_count
    return json.dumps({
        "DedicatedIpAutoWarmupEnabled": False, "EnforcementStatus": "HEALTHY",
        "ProductionAccessEnabled": production, "SendingEnabled": True,
        "SendQuota": {"Max24HourSend": per_day, "MaxSendRate": per_second, "SentLast24Hours": float(sent)},
        "SuppressionAttributes": {"SuppressedReasons": []},
    })


def install() -> None:
    """Add the two reads to moto (idempotent; before the server builds its URL maps)."""
    from localdev.aws.moto_fixes import assert_moto_version

    assert_moto_version()
    from moto.awslambda import urls as lambda_urls
    from moto.awslambda.responses import LambdaResponse
    from moto.sesv2.responses import SESV2Response

    if getattr(LambdaResponse, "get_account_settings", None) is _get_account_settings:
        return
    lambda_urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch
    LambdaResponse.get_account_settings = _get_account_settings  # type: ignore[attr-defined]
    SESV2Response.get_account = _get_account  # type: ignore[attr-defined]


def main() -> None:
    install()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
