"""Create the local AWS resources, from the template: the one way local resources are made.

    python -m localdev.aws.bootstrap        # against AWS_ENDPOINT_URL

``bootstrap()`` creates what ``dist/template.json`` declares (``localdev/aws/template_provisioning.py``:
queues with redrive and encryption attributes, tables with TTL and indexes, the state machine
and its role, schedules, the SES identity, the roles and their functions' IAM users).
``bootstrap(manifest)`` does the same for the template built from a manifest of a test's own
(``template_artifact.manifest_template``, as ``make package`` builds it); the LocalStack hook is
generated from that template too (``localdev/aws/localstack_hooks.py``). Idempotent: existing
resources are kept (state machines get the current definition).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib import resources, settings
from infra.manifest import Manifest
from localdev.aws import moto_state
from localdev.aws.template_artifact import manifest_template

if TYPE_CHECKING:
    from localdev.lambda_runtime.runtime import LambdaRuntime


@dataclass
class Bootstrapped:
    queue_urls: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    ses_identities: list[str] = field(default_factory=list)


def bootstrap(manifest: Manifest | None = None) -> Bootstrapped:
    """The packaged template's resources, or those of the template built from ``manifest``."""
    return from_template(None if manifest is None else manifest_template(manifest))


def from_template(template: str | Path | dict[str, Any] | None = None,
                  values: dict[str, str] | None = None) -> Bootstrapped:
    """The template's resources (no function runs: settings it cannot know get placeholders)."""
    from localdev.lambda_runtime.runtime import IN_PROCESS, LambdaRuntime

    runtime = LambdaRuntime(values, template=template, mode=IN_PROCESS, placeholders=True)
    # a moto server that made these resources before, from an empty account, hands them back (moto_state.py)
    state_key = moto_state.key(runtime.template, runtime.values, runtime.region)
    saved = moto_state.restore(state_key)
    if saved is not None:
        resources.forget_lookups()
        return Bootstrapped(**saved)
    generation = moto_state.begin()
    runtime.provision()
    out = _bootstrapped(runtime)
    if generation is not None:
        moto_state.save(state_key, generation, asdict(out))
    return out


def _bootstrapped(runtime: LambdaRuntime) -> Bootstrapped:
    r = runtime.resolver
    assert r is not None
    out = Bootstrapped()
    for logical, spec in runtime.template["Resources"].items():
        name = spec.get("Metadata", {}).get("Name")
        if spec["Type"] == "AWS::SQS::Queue":
            out.queue_urls[name] = r.physical[logical]["Ref"]
        elif spec["Type"] == "AWS::DynamoDB::Table":
            out.tables.append(name)
        elif spec["Type"] == "AWS::StepFunctions::StateMachine":
            out.state_machine_arns[name] = r.physical[logical]["Ref"]
        elif spec["Type"] == "AWS::SES::EmailIdentity":
            out.ses_identities.append(r.value(spec["Properties"]["EmailIdentity"]))
    return out


def main() -> int:
    if not settings.aws_endpoint_url():
        print("AWS_ENDPOINT_URL is not set: refusing to create resources in a real AWS account", file=sys.stderr)
        return 2
    done = bootstrap()
    print(f"queues: {len(done.queue_urls)}, tables: {len(done.tables)}, state machines: {len(done.state_machine_arns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
