"""The local day from the deployable artifact: ``dist/template.json`` run on this machine.

    with TemplateRuntime(values) as runtime:       # values: setting name -> local value
        runtime.invoke("reminder-schedule-wib", event)
        runtime.drain(["reminder-dispatch-robocall"], idle=...)

``TemplateRuntime`` is ``localdev.lambda_runtime.runtime.LambdaRuntime`` in its container mode. The parts
live by responsibility; this module keeps the names existing callers import:

- the artifact: ``localdev/aws/template_artifact.py`` (``dist/template.json``, rebuilt when stale);
- template resolution: ``localdev/aws/template_resolution.py`` (intrinsic functions, parameters,
  the functions as ``LocalFunction``);
- provisioning: ``localdev/aws/template_provisioning.py`` (the resources, IAM users with their role's
  policy, with moto enforcing IAM: ``localdev/aws/moto_iam.py``);
- the runtime: ``localdev/lambda_runtime/runtime.py`` (delivery, schedules, the two execution modes) and
  ``localdev/lambda_runtime/containers.py`` (containers: Timeout, MemorySize, reserved concurrency, each
  AWS call checked against the role, API Gateway's resource policy before the API runs).
"""

from __future__ import annotations

from localdev.lambda_runtime.containers import ColdStartFailed, Container, Invocation, LocalAccessDenied
from localdev.lambda_runtime.events import LOCAL_ACCOUNT as ACCOUNT
from localdev.lambda_runtime.runtime import LambdaRuntime as TemplateRuntime
from localdev.servers.ports import free_port
from localdev.aws.template_artifact import (
    DIST,
    ROOT,
    inputs_hash,
    load_template,
    packaged_template,
    strip_statement,
    template_path,
)
from localdev.aws.template_provisioning import admin as _admin
from localdev.aws.template_provisioning import for_moto, with_sslmode, with_user
from localdev.aws.template_resolution import (
    LOCAL_CALLBACK_REFERENCE_KEY,
    LOCAL_STACK_PARAMETERS,
    LOCAL_VOICE_FROM_NUMBER,
    STACK_NAME,
    LocalFunction,
    Resolver,
    local_provider_settings,
)

__all__ = ["ACCOUNT", "DIST", "LOCAL_CALLBACK_REFERENCE_KEY", "LOCAL_STACK_PARAMETERS", "LOCAL_VOICE_FROM_NUMBER",
           "ROOT", "STACK_NAME", "ColdStartFailed", "Container", "Invocation", "LocalAccessDenied", "LocalFunction",
           "Resolver", "TemplateRuntime", "_admin", "for_moto", "free_port", "inputs_hash", "load_template",
           "local_provider_settings", "packaged_template", "strip_statement", "template_path", "with_sslmode",
           "with_user"]
