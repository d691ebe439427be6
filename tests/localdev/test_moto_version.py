"""The moto patches in localdev name the moto version they were written for, and refuse another."""

from __future__ import annotations

import re
from pathlib import Path

import moto
import pytest

from localdev.aws import moto_fixes

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_moto_is_the_one_the_patches_were_written_for() -> None:
    pinned = re.search(r"^moto\[server\]==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pinned is not None, "requirements-dev.txt pins moto[server]"
    assert pinned.group(1) == moto_fixes.MOTO_VERSION == moto.__version__


def test_another_moto_is_refused_with_what_to_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError) as refused:
        moto_fixes.assert_moto_version()
    message = str(refused.value)
    assert "moto 9.9.9 is installed" in message
    for patched in ("localdev/aws/moto_fixes.py", "localdev/aws/moto_iam.py", "localdev/aws/moto_account.py"):
        assert patched in message
