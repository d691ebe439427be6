"""Fake voice (Vonage Voice API) and WhatsApp (Cloud API) providers on 127.0.0.1 for local runs and tests."""

from localdev.fake_providers.base import Fault, ProviderRecord
from localdev.fake_providers.voice import FakeVoice
from localdev.fake_providers.whatsapp import FakeWhatsApp

__all__ = ["FakeVoice", "FakeWhatsApp", "Fault", "ProviderRecord"]
