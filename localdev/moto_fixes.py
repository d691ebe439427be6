"""Where moto 5.2.5 answers differently from AWS, corrected in the local server.

``install()`` runs in the moto server of the local day (``localdev/moto_iam.py``):

- Secrets Manager: ``UpdateSecretVersionStage`` moving ``AWSCURRENT`` to another version (the
  last step of every rotation, finishSecret) leaves moto's ``GetSecretValue`` without a
  ``VersionStage`` answering the old version; AWS answers the version that now holds
  ``AWSCURRENT`` ("If you don't specify either a VersionStage or VersionId, Secrets Manager
  returns the AWSCURRENT version", GetSecretValue API reference).
"""

from __future__ import annotations

from typing import Any


def install() -> None:
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
