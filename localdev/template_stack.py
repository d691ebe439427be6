"""Local values for running from the deployable artifact (the template runtime grows here)."""

from __future__ import annotations

LOCAL_VOICE_FROM_NUMBER = "6281100000001"


def local_provider_settings() -> dict[str, str]:
    """Provider settings of a local run that the fakes do not hand out themselves."""
    return {"VOICE_FROM_NUMBER": LOCAL_VOICE_FROM_NUMBER}
