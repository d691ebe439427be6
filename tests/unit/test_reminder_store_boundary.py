"""The reminder domain is handed its store: it never builds the DynamoDB one, so it does not even import
pynamodb; only the handlers (functions/, the HTTP callbacks) and local tools do. And the DynamoDB store
uses pynamodb's public API only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ("chalicelib.reminders.dispatch", "chalicelib.reminders.stage_worker", "chalicelib.reminders.summary",
          "chalicelib.reminders.day_report", "chalicelib.reminders.outcomes", "chalicelib.reminders.completion",
          "chalicelib.reminders.store", "chalicelib.reminders.store.memory")


def test_the_reminder_domain_does_not_import_the_dynamodb_store() -> None:
    code = ("import importlib, sys\n"
            f"for name in {DOMAIN!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('pynamodb', 'chalicelib.reminders.store.dynamo'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_handlers_and_tools_build_the_dynamodb_store() -> None:
    builders = {str(path.relative_to(ROOT)) for folder in ("chalicelib", "functions", "localdev")
                for path in (ROOT / folder).rglob("*.py") if "DynamoReminderStore(" in path.read_text()}
    assert builders == {"chalicelib/http/callbacks_api.py", "chalicelib/http/sms_callbacks_api.py",
                        "functions/reminder_dispatch.py", "functions/reminder_stage.py", "localdev/demo/reminders.py"}


def test_no_private_pynamodb_calls() -> None:
    private = re.compile(r"\._(get_connection|get_meta_data|serialize|deserialize|hash_key_attribute)\b")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "chalicelib").rglob("*.py")
                 if private.search(path.read_text())]
    assert offenders == []
