import json
import time

from chalicelib import settings


def test_moto_executes_state_machines(aws):
    """The local AWS really runs ASL, including an SQS service integration."""
    sqs = settings.aws_clients().client("sqs")
    sfn = settings.aws_clients().client("stepfunctions")
    queue_url = sqs.create_queue(QueueName="probe")["QueueUrl"]
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$.greeting"},
                "ResultPath": None,
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "Result": {"ok": True}, "End": True},
        },
    }
    # IAM is enforced locally: the state machine's role must allow the send, as in AWS
    iam = settings.aws_clients().client("iam")
    iam.create_role(RoleName="probe", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="probe", PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}))
    arn = sfn.create_state_machine(
        name="probe", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/probe",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="probe-1", input=json.dumps({"greeting": "halo"}))
    deadline = time.monotonic() + 20
    while True:
        desc = sfn.describe_execution(executionArn=execution["executionArn"])
        if desc["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"ok": True}
    msgs = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in msgs] == ["halo"]
