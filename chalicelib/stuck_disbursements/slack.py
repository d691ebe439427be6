"""Slack adapter: upload a file to a channel with slack_sdk's upload v2 flow.

``files_upload_v2`` calls files.getUploadURLExternal, POSTs the bytes to the returned URL,
then files.completeUploadExternal with the channel, title and initial comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from slack_sdk import WebClient

from chalicelib import aws, config

DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Posted:
    file_id: str
    channel: str


def slack_token() -> str:
    """``SLACK_BOT_TOKEN``, or (deployed) the ``slack_bot_token`` key of the provider secrets."""
    token = config.env_str("SLACK_BOT_TOKEN", "")
    if token:
        return token
    arn = config.env_str("PROVIDER_SECRETS_ARN", "")
    if not arn:
        raise RuntimeError("neither SLACK_BOT_TOKEN nor PROVIDER_SECRETS_ARN is set")
    secret = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return secret["slack_bot_token"]


def slack_client() -> WebClient:
    base_url = config.env_str("SLACK_API_URL", DEFAULT_API_URL)
    return WebClient(token=slack_token(), base_url=base_url if base_url.endswith("/") else base_url + "/")


class SlackFiles:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post_file(self, channel: str, path: Path, title: str, comment: str) -> Posted:
        resp = self._client.files_upload_v2(
            channel=channel, file=str(path), filename=path.name, title=title, initial_comment=comment,
        )
        return Posted(file_id=resp["file"]["id"], channel=channel)
