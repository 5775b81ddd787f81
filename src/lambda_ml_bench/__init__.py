"""lambda-ml-bench: is Graviton (arm64) or x86_64 Lambda faster and cheaper for your model, and how to deploy it.

The parts, in the order data flows: build (layers, model, package) -> sandbox (roots, the isolated process,
allotment) -> local_lambda (API -> pools -> environment) -> measure (sweep, pricing, recommendation, report)
-> deploy (Terraform) -> tfcheck (offline Terraform checks). lambda_facts holds every fact about Lambda; spec
reads terraform/functions.json; handlers is the function package's code (it imports nothing else of ours).
"""
