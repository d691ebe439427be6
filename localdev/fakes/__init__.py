"""Fake Vonage Voice (https, RS256 application JWT), Vonage SMS (https, API key and secret, ``sig``-signed
receipts) and WhatsApp Cloud API providers on 127.0.0.1, and a fake Slack Web API (``slack.py``).

Every fake runs on the one fake server (``server.py``: threaded, plain or TLS) and takes targeted
faults from the one ``FaultQueue`` (``faults.py``); the providers share ``FakeProvider``
(``provider.py``: records, strict mode, outcomes) and post their webhooks with ``webhooks.py``.

Both are as strict as the real providers (see ``voice.py`` / ``whatsapp.py``) and record every
request in ``.records`` (``ProviderRecord``: body, answer status, final outcome, provider id,
``placed``, ``fault``). ``.env()`` gives the settings the app needs to talk to a fake
(URL, credentials, signature secrets, ``REQUESTS_CA_BUNDLE`` for the voice fake's certificate).

Fault modes, driven from tests:

- per request, at rates (seeded, reproducible for a given arrival order)::

      voice = FakeVoice(rates=FaultRates.each(0.10))          # every mode at 10%
      whatsapp.set_rates(FaultRates(http_429=0.1, answer_lost=0.1, cut=0.1))

- or targeted, for the next N requests (to one number, or any)::

      voice.inject("answer_lost", count=1, recipient="6281300000001")

Request faults (at most one per request):

- ``429``: ``429`` with ``Retry-After: 0`` and the provider's throttling body; nothing placed.
- ``500``: ``500`` with the provider's error body; nothing placed.
- ``timeout``: no answer before the client gives up, nothing placed, no webhooks.
- ``answer_lost``: PLACED (webhooks follow) but the answer arrives after the client gave up.
- ``cut``: PLACED, then the connection is dropped without an answer (a crash-like cut).
- ``slow``: answered correctly after ``slow_sleep`` seconds (within the client timeout).
- ``401``: good credentials refused once (an auth blip): Vonage's 401 problem, Meta's 401 with
  OAuthException code 190; nothing placed. Only by ``inject`` (not part of ``FaultRates``).

Credential rotation: ``FakeWhatsApp.rotate_token()``, ``FakeVoice.rotate_key()`` and
``FakeSms.rotate_secret()`` replace the credential; requests with the old one are refused (401; the
SMS API: status 4) from then on. ``auth_refused`` counts the refusals.

Strict mode, as the providers enforce their contract: ``FakeVoice(strict_rate=5, max_concurrent=30,
call_seconds=40)`` / ``FakeWhatsApp(strict_rate=80)`` answer ``429`` (with ``Retry-After``) to a
request over the rate in a rolling second or over the concurrent calls in progress; those records
have ``fault`` ``rate_limit`` / ``concurrency`` and ``limit_refusals()`` counts them.

Webhook faults (per status sequence): ``duplicate`` (every webhook delivered twice) and
``reorder`` (the sequence shuffled). ``FaultRates.duplicate`` / ``.reorder`` or ``inject``.

Counting for invariants: ``placed_by_reference()`` maps each callback reference to how many
calls / messages were placed for it (a value of 2+ is a borrower contacted twice);
``outstanding_callbacks()`` / ``wait_idle()`` wait for webhooks; ``callbacks_failed`` counts
webhooks the app refused after retries; ``callbacks_dropped`` WhatsApp webhooks not delivered
because the subscription handshake failed.
"""

from localdev.fakes.faults import FAULT_KINDS, LIMIT_FAULTS, Fault, FaultRates
from localdev.fakes.provider import ProviderRecord
from localdev.fakes.sms import FakeSms
from localdev.fakes.voice import FakeVoice
from localdev.fakes.whatsapp import FakeWhatsApp

__all__ = ["FAULT_KINDS", "LIMIT_FAULTS", "FakeSms", "FakeVoice", "FakeWhatsApp", "Fault", "FaultRates",
           "ProviderRecord"]
