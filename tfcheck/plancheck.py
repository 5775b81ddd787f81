"""What a plan (`terraform show -json`) must show: the project's deployment rules, read from the plan itself.

- one function per handler and architecture, each with the layer built for its own architecture;
- each function's role may do nothing but write to the function's own log group (read from the
  rendered policy JSON; X-Ray's write actions too when tracing is Active), no managed policies;
- no public Function URL (AWS_IAM authentication only, no permission for principal "*");
- every log group has a retention period.

Computed values (ARNs) are unknown in a plan, so which layer a function gets is read from the
configuration's references: the layer module instance must be chosen by the same value that sets the
function's architecture (or by a literal key), and that instance's layer must be built for it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tfcheck.errors import PlanCheckError

LOG_ACTIONS = frozenset({"logs:CreateLogStream", "logs:PutLogEvents"})
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(?:\[("?)([^\]"]*)\2\])?')
_ATTACHMENTS = ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_role_policy_attachments_exclusive")


@dataclass(frozen=True)
class PlannedFunction:
    address: str
    name: str
    handler: str
    architecture: str
    layer: str  # address of the aws_lambda_layer_version it gets
    log_group: str


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


class PlanView:
    """Navigation over one `terraform show -json` document."""

    def __init__(self, plan: dict):
        self.plan = plan
        self.changes = [rc for rc in plan.get("resource_changes", [])
                        if rc["mode"] == "managed" and rc["change"]["actions"] != ["delete"]]

    def of_type(self, type_name: str, module_address: str | None = ...) -> list[dict]:
        return [rc for rc in self.changes if rc["type"] == type_name
                and (module_address is ... or rc.get("module_address") == module_address)]

    def module_config(self, module_address: str | None) -> dict:
        config = self.plan["configuration"]["root_module"]
        for name, _, _ in _MODULE_STEP.findall(module_address or ""):
            config = config["module_calls"][name]["module"]
        return config

    def call(self, module_address: str) -> tuple[str | None, dict]:
        """(parent module address, module call config) of a module instance."""
        steps = list(re.finditer(_MODULE_STEP, module_address))
        parent = module_address[: steps[-1].start()].rstrip(".") or None
        return parent, self.module_config(parent)["module_calls"][steps[-1].group(1)]

    def resource_config(self, rc: dict) -> dict:
        key = f"{rc['type']}.{rc['name']}"
        return next(r for r in self.module_config(rc.get("module_address"))["resources"] if r["address"] == key)


def _refs(expressions: dict, name: str) -> list[str]:
    return (expressions.get(name) or {}).get("references", [])


def _same_module(module_address: str | None, ref: str) -> str:
    return f"{module_address}.{ref}" if module_address else ref


def _layer_instance(view: PlanView, rc: dict) -> str | None:
    """Address of the module instance whose layer a function gets (its `layers` followed through `var.`)."""
    scope = rc.get("module_address")
    expressions = view.resource_config(rc)["expressions"]
    layer_refs, arch_refs = _refs(expressions, "layers"), _refs(expressions, "architectures")
    while layer_refs and layer_refs[0].startswith("var.") and scope:
        layer_var = layer_refs[0].split(".")[1]
        arch_var = arch_refs[0].split(".")[1] if arch_refs and arch_refs[0].startswith("var.") else None
        scope, call = view.call(scope)
        layer_refs = _refs(call.get("expressions", {}), layer_var)
        arch_refs = _refs(call.get("expressions", {}), arch_var) if arch_var else []
    module_refs = [r for r in layer_refs if r.startswith("module.")]
    if not module_refs:
        raise PlanCheckError(f"{rc['address']}: its layer does not come from a layer module of this configuration "
                             f"(references: {layer_refs or 'a literal ARN'}), so its architecture cannot be checked")
    keyed = next((m for r in module_refs for m in [_MODULE_STEP.match(r)] if m and m.group(3)), None)
    name = _MODULE_STEP.match(module_refs[0]).group(1)
    if keyed:
        return _same_module(scope, f'module.{name}["{keyed.group(3)}"]')
    key_refs = {r for r in layer_refs if not r.startswith("module.")}
    if not key_refs:
        return _same_module(scope, f"module.{name}")
    if key_refs == {r for r in arch_refs if not r.startswith("module.")}:
        return _same_module(scope, f'module.{name}["{rc["change"]["after"]["architectures"][0]}"]')
    raise PlanCheckError(f"{rc['address']}: the layer module instance is chosen by {sorted(key_refs)}, not by the "
                         f"value that sets the function's architecture ({sorted(arch_refs)})")


def _policy_statements(text, where: str) -> list[dict]:
    if not isinstance(text, str):
        raise PlanCheckError(f"{where}: the policy is not known at plan time; build its ARNs from known values")
    document = json.loads(text)
    return _as_list(document.get("Statement", []))


def _check_role(view: PlanView, fn: dict, log_group: str, tracing: str) -> None:
    where, scope = fn["address"], fn.get("module_address")
    role_refs = [r for r in _refs(view.resource_config(fn)["expressions"], "role") if r.startswith("aws_iam_role.")]
    if not role_refs:
        raise PlanCheckError(f"{where}: its role is not created by this configuration, so its rights cannot be read")
    role_name = role_refs[0].split(".")[1]
    role = next((r for r in view.of_type("aws_iam_role", scope) if r["name"] == role_name), None)
    if role is None:
        raise PlanCheckError(f"{where}: its role aws_iam_role.{role_name} is not planned in the same module")
    after = role["change"]["after"]
    if after.get("inline_policy") or after.get("managed_policy_arns"):
        raise PlanCheckError(f"{role['address']}: inline_policy / managed_policy_arns give rights beyond its log group")
    for statement in _policy_statements(after.get("assume_role_policy"), role["address"]):
        if statement.get("Principal") != {"Service": "lambda.amazonaws.com"} or statement.get("Action") != "sts:AssumeRole":
            raise PlanCheckError(f"{role['address']}: only lambda.amazonaws.com may assume it, found {statement}")
    for kind in _ATTACHMENTS:
        for rc in view.of_type(kind):
            refs = {r for key in ("role", "roles") for r in _refs(view.resource_config(rc)["expressions"], key)}
            if rc.get("module_address") == scope and f"aws_iam_role.{role_name}" in refs:
                raise PlanCheckError(f"{rc['address']}: a managed policy on {role['address']}")
    policies = [rc for rc in view.of_type("aws_iam_role_policy", scope)
                if f"aws_iam_role.{role_name}" in _refs(view.resource_config(rc)["expressions"], "role")]
    arn = re.compile(rf"arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{{12}}:log-group:{re.escape(log_group)}:\*")
    for policy in policies:
        for st in _policy_statements(policy["change"]["after"].get("policy"), policy["address"]):
            if st.get("Effect") == "Deny":
                continue
            if "NotAction" in st or "NotResource" in st:
                raise PlanCheckError(f"{policy['address']}: NotAction/NotResource grant more than they name: {st}")
            actions, resources = set(_as_list(st.get("Action", []))), _as_list(st.get("Resource", []))
            if actions <= LOG_ACTIONS and all(isinstance(r, str) and arn.fullmatch(r) for r in resources):
                continue
            if actions <= XRAY_ACTIONS and resources == ["*"] and tracing == "Active":
                continue
            raise PlanCheckError(f"{policy['address']}: grants more than writing to {log_group}: {st}")


def check(plan: dict, expected: set[tuple[str, str]] | None = None) -> list[PlannedFunction]:
    """Every rule above, on one plan; `expected` is the set of (handler, architecture) it must create."""
    view = PlanView(plan)
    found: list[PlannedFunction] = []
    for fn in view.of_type("aws_lambda_function"):
        after = fn["change"]["after"]
        arch = (after.get("architectures") or ["x86_64"])[0]
        layer_module = _layer_instance(view, fn)
        layers = view.of_type("aws_lambda_layer_version", layer_module)
        if len(layers) != 1:
            raise PlanCheckError(f"{fn['address']}: expected one layer in {layer_module}, found {len(layers)}")
        layer_arch = layers[0]["change"]["after"].get("compatible_architectures")
        if layer_arch != [arch]:
            raise PlanCheckError(f"{fn['address']} runs on {arch} but gets {layers[0]['address']}, "
                                 f"built for {layer_arch}")
        logging = (after.get("logging_config") or [{}])[0]
        log_group = logging.get("log_group") or f"/aws/lambda/{after['function_name']}"
        tracing = (after.get("tracing_config") or [{}])[0].get("mode") or "PassThrough"
        _check_role(view, fn, log_group, tracing)
        if not any(g["change"]["after"].get("name") == log_group for g in view.of_type("aws_cloudwatch_log_group")):
            raise PlanCheckError(f"{fn['address']}: its log group {log_group} is not created here, so no retention is set")
        found.append(PlannedFunction(fn["address"], after["function_name"], after["handler"], arch,
                                     layers[0]["address"], log_group))
    for group in view.of_type("aws_cloudwatch_log_group"):
        if not group["change"]["after"].get("retention_in_days"):
            raise PlanCheckError(f"{group['address']}: no retention_in_days (logs would be kept forever)")
    for url in view.of_type("aws_lambda_function_url"):
        if url["change"]["after"].get("authorization_type") != "AWS_IAM":
            raise PlanCheckError(f"{url['address']}: a public Function URL (authorization_type "
                                 f"{url['change']['after'].get('authorization_type')})")
    for permission in view.of_type("aws_lambda_permission"):
        if permission["change"]["after"].get("principal") == "*":
            raise PlanCheckError(f"{permission['address']}: lets anyone invoke the function")
    pairs = [(f.handler, f.architecture) for f in found]
    if len(set(pairs)) != len(pairs):
        raise PlanCheckError(f"more than one function for the same handler and architecture: {sorted(pairs)}")
    if len({f.log_group for f in found}) != len(found):
        raise PlanCheckError("two functions share a log group")
    if expected is not None and set(pairs) != expected:
        raise PlanCheckError(f"functions planned for {sorted(pairs)}, expected {sorted(expected)}")
    return found
