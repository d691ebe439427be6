"""Sessions share botocore's parsed data, not their credentials (chalicelib/aws.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import aws

REGION = "ap-southeast-3"


def test_each_client_reads_the_credentials_in_the_environment_when_it_is_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = aws.AwsClients("http://127.0.0.1:9", REGION).client("sqs")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    second = aws.AwsClients("http://127.0.0.1:9", REGION).client("sqs")
    assert first._request_signer._credentials.access_key == "first-key"
    assert second._request_signer._credentials.access_key == "second-key"
    assert second.meta.endpoint_url == "http://127.0.0.1:9"
    assert second.meta.region_name == REGION


def test_sessions_share_one_loader_and_its_parsed_models() -> None:
    one, two = aws.botocore_session(), aws.boto3_session()._session
    assert one.get_component("data_loader") is two.get_component("data_loader")
    model = one.get_component("data_loader").load_service_model("dynamodb", "service-2")
    assert two.get_component("data_loader").load_service_model("dynamodb", "service-2") is model


def test_boto3_sessions_add_their_data_folder_once() -> None:
    for _ in range(20):
        aws.boto3_session()
    paths = aws.shared_loader(None).search_paths
    assert len(paths) == len(set(paths))
    assert any(p.endswith("boto3/data") for p in paths)


def test_a_data_path_gets_its_own_loader(tmp_path: Path) -> None:
    assert aws.shared_loader(str(tmp_path)) is not aws.shared_loader(None)
    assert str(tmp_path) in aws.shared_loader(str(tmp_path)).search_paths


def test_parse_ahead_needs_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.parse_ahead(["sqs", "stepfunctions"])
    loader = aws.shared_loader(None)
    assert loader.load_service_model("sqs", "service-2")["metadata"]["endpointPrefix"] == "sqs"
