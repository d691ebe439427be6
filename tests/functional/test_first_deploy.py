"""A first deploy into a fresh account: the build refuses a Python that is not the template's
runtime, and the callback URL comes from the stack itself (no hand-filled first-pass value)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chalice.config import Config

from chalicelib.settings import DispatchSettings, SettingError, public_url
from infra import package as infra_package
from infra.package import RUNTIME, BuildPythonMismatch, check_build_python
from localdev.aws.template_artifact import load_template
from localdev.aws.template_resolution import Resolver


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def test_make_package_refuses_a_python_of_another_minor_version_naming_both(tmp_path: Path, monkeypatch, capsys):
    with pytest.raises(BuildPythonMismatch) as refused:
        check_build_python((3, 12))
    assert "python3.12" in str(refused.value) and RUNTIME in str(refused.value)
    check_build_python((3, 11, 7))  # the runtime's own minor version: any patch level
    monkeypatch.setattr(infra_package, "build_python", lambda: (3, 12))
    out = tmp_path / "dist"
    assert infra_package.main(["--out", str(out)]) == 2
    assert "python3.12" in capsys.readouterr().err and not out.exists()  # refused before building anything


def test_every_function_and_the_api_run_the_runtime_chalice_builds_for():
    """Chalice picks the API's runtime (and its wheels) from the building Python
    (``chalice.config.Config.lambda_python_version``); the functions use RUNTIME. The check
    passes exactly when the two agree."""
    chalice_runtime = Config().lambda_python_version
    try:
        check_build_python()
        passes = True
    except BuildPythonMismatch:
        passes = False
    assert passes == (chalice_runtime == RUNTIME)


def test_the_packaged_template_has_one_runtime(template):
    runtimes = {r["Properties"]["Runtime"] for r in template["Resources"].values()
                if r["Type"] == "AWS::Serverless::Function"}
    assert runtimes == {Config().lambda_python_version}


def _callback_url(template: dict, parameters: dict) -> str:
    r = Resolver(template, parameters, "ap-southeast-3")
    r.physical["RestAPI"] = {"Ref": "a1b2c3d4e5"}
    env = template["Resources"]["ReminderDispatchRobocallFunction"]["Properties"]["Environment"]["Variables"]
    return str(r.value(env["REMINDER_CALLBACK_BASE_URL"]))


def test_the_callback_base_url_is_the_stacks_own_api_unless_a_custom_domain_is_given(template):
    assert "ReminderCallbackBaseUrl" not in template["Parameters"]  # nothing to hand-fill on a first deploy
    assert template["Parameters"]["PublicApiBaseUrl"]["Default"] == ""
    # the API's own URL, exactly as Chalice's EndpointURL output builds it (without its final slash)
    chalice_endpoint = template["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"]
    env = template["Resources"]["ReminderDispatchRobocallFunction"]["Properties"]["Environment"]["Variables"]
    assert env["REMINDER_CALLBACK_BASE_URL"]["Fn::If"][2]["Fn::Sub"] == chalice_endpoint.rstrip("/")
    assert _callback_url(template, {"PublicApiBaseUrl": ""}) == \
        "https://a1b2c3d4e5.execute-api.ap-southeast-3.amazonaws.com/api"
    assert _callback_url(template, {"PublicApiBaseUrl": "https://api.julo.co.id/reminders"}) == \
        "https://api.julo.co.id/reminders"
    # both pass the dispatch functions' cold-start check
    for url in ("https://a1b2c3d4e5.execute-api.ap-southeast-3.amazonaws.com/api", "https://api.julo.co.id/x"):
        assert public_url(url) is None


@pytest.mark.parametrize("url, problem", [
    ("https://<api-id>.execute-api.ap-southeast-3.amazonaws.com/api", "placeholder"),
    ("https://unset.invalid", "placeholder"),
    ("http://api.julo.co.id", "must be https"),
    ("/v1/callbacks", "absolute"),
])
def test_a_placeholder_or_plain_http_callback_url_fails_the_cold_start(url, problem):
    env = {"DATABASE_URL": "postgresql://x@h/db", "REMINDER_CALLBACK_BASE_URL": url, "VOICE_FROM_NUMBER": "6281234",
           "WHATSAPP_PHONE_NUMBER_ID": "1", "VONAGE_APPLICATION_ID": "a",
           "VONAGE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----", "WHATSAPP_API_TOKEN": "t"}
    with pytest.raises(SettingError, match=f"REMINDER_CALLBACK_BASE_URL .*{problem}"):
        DispatchSettings.load(env)
    assert public_url("http://127.0.0.1:8000") is None  # the local day's API
