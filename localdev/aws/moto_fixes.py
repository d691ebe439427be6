"""Where moto 5.2.5 answers differently from AWS, corrected in the local server.

``install()`` runs in the moto server of the local day (``localdev/aws/moto_iam.py``):

- Secrets Manager: ``UpdateSecretVersionStage`` moving ``AWSCURRENT`` to another version (the
  last step of every rotation, finishSecret) leaves moto's ``GetSecretValue`` without a
  ``VersionStage`` answering the old version; AWS answers the version that now holds
  ``AWSCURRENT`` ("If you don't specify either a VersionStage or VersionId, Secrets Manager
  returns the AWSCURRENT version", GetSecretValue API reference).
"""

from __future__ import annotations

from typing import Any

# Every patch of moto in localdev (this module, moto_iam.py, moto_account.py) replaces a moto
# internal that was read in this version; requirements-dev.txt pins the same one (a test checks).
MOTO_VERSION = "5.2.5"


def assert_moto_version() -> None:
    """Refuse to patch another moto: its internals (names, signatures, behaviour) may have moved."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"moto {moto.__version__} is installed, but localdev's moto patches were written for moto "
            f"{MOTO_VERSION}. On upgrade, re-check each patch against the new moto: "
            "localdev/aws/moto_fixes.py (does GetSecretValue follow AWSCURRENT after UpdateSecretVersionStage now?), "
            "localdev/aws/moto_iam.py (access_control.create_access_key, the werkzeug backend lookup, "
            "ConditionExpressionParser lexing), localdev/aws/moto_account.py (Lambda GetAccountSettings, "
            "SESv2 GetAccount still unanswered?); drop the ones moto fixed, then set MOTO_VERSION "
            "in localdev/aws/moto_fixes.py")


def install() -> None:
    assert_moto_version()
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage
    if getattr(original, "julo_fixed", False):
        return

    def update_secret_version_stage(self: Any, secret_id: str, version_stage: str, remove_from_version_id: str,
                                    move_to_version_id: str) -> tuple[str, str]:
        result = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].default_version_id = move_to_version_id
        return result

    update_secret_version_stage.julo_fixed = True  # type: ignore[attr-defined]
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage  # type: ignore[method-assign]
