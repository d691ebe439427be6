"""AWS on this machine: the deployable template (``dist/template.json``) resolved and provisioned in
moto or LocalStack, moto's corrections (IAM enforced, account reads, answers that differ from AWS),
the LocalStack init hook generated from the same template, and API Gateway's resource policy."""
