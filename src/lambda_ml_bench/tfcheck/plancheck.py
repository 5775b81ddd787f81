"""What a plan (`terraform show -json`) must show: the project's deployment rules, read from the plan itself.

- one function per handler and architecture, each with the layer built for its own architecture;
- each function's role may do nothing but write to the function's own log group (read from the
  rendered policy JSON; X-Ray's write actions too when tracing is Active), no managed policies;
- no public Function URL (AWS_IAM authentication only, no permission for principal "*");
- every log group has a retention period;
- no empty `environment` block (it never settles: hashicorp/terraform-provider-aws#43763);
- asynchronous invocations of every invoked qualifier are never retried (Lambda retries twice by
  default, billing a failed benchmark three times);
- no `logging_config` outside the `aws` partition (refused there: hashicorp/terraform-provider-aws#34810);
- every bucket refuses plain HTTP and has a lifecycle rule that aborts incomplete multipart uploads
  and, when versioned, expires noncurrent versions;
- with Function URLs, an output gives callers both lambda:InvokeFunctionUrl and lambda:InvokeFunction;
- provisioned concurrency is configured on a published function's alias (never $LATEST), never beside SnapStart;
- a function on Managed Instances is published, has at least 2,048 MB, neither SnapStart nor provisioned
  concurrency, and a capacity provider of its architecture; every capacity provider runs in given subnets and
  security groups, allows only instance types of its one architecture, and its operator role trusts Lambda alone
  and holds AWS's AWSLambdaManagedEC2ResourceOperator policy and nothing else.

Computed values (ARNs) are unknown in a plan, so which layer a function gets is read from the
configuration's references: the layer module instance must be chosen by the same value that sets the
function's architecture (or by a literal key), and that instance's layer must be built for it. With several
backends, the instance is keyed BACKEND-ARCHITECTURE: chosen by the architecture's value and the function's
backend (functions.json says which each handler runs on), and its layer must be of that backend.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from lambda_ml_bench import lambda_facts
from lambda_ml_bench.tfcheck.errors import PlanCheckError

LOG_ACTIONS = frozenset({"logs:CreateLogStream", "logs:PutLogEvents"})
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(?:\[("?)([^\]"]*)\2\])?')
_ATTACHMENTS = (
    "aws_iam_role_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_role_policy_attachments_exclusive",
)


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
        self.changes = [
            rc
            for rc in plan.get("resource_changes", [])
            if rc["mode"] == "managed" and rc["change"]["actions"] != ["delete"]
        ]

    def of_type(self, type_name: str, module_address: str | None = ...) -> list[dict]:
        return [
            rc
            for rc in self.changes
            if rc["type"] == type_name and (module_address is ... or rc.get("module_address") == module_address)
        ]

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


def _layer_instance(view: PlanView, rc: dict, kind: str | None) -> str | None:
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
        raise PlanCheckError(
            f"{rc['address']}: its layer does not come from a layer module of this configuration "
            f"(references: {layer_refs or 'a literal ARN'}), so its architecture cannot be checked"
        )
    keyed = next((m for r in module_refs for m in [_MODULE_STEP.match(r)] if m and m.group(3)), None)
    name = _MODULE_STEP.match(module_refs[0]).group(1)
    if keyed:
        return _same_module(scope, f'module.{name}["{keyed.group(3)}"]')
    key_refs = {r for r in layer_refs if not r.startswith("module.")}
    if not key_refs:
        return _same_module(scope, f"module.{name}")
    arch_keys = {r for r in arch_refs if not r.startswith("module.")}
    arch = rc["change"]["after"]["architectures"][0]
    if key_refs == arch_keys:
        return _same_module(scope, f'module.{name}["{arch}"]')
    if arch_keys and arch_keys < key_refs and kind:
        return _same_module(scope, f'module.{name}["{kind}-{arch}"]')
    raise PlanCheckError(
        f"{rc['address']}: the layer module instance is chosen by {sorted(key_refs)}, not by the "
        f"value that sets the function's architecture ({sorted(arch_refs)})"
    )


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
        if (
            statement.get("Principal") != {"Service": "lambda.amazonaws.com"}
            or statement.get("Action") != "sts:AssumeRole"
        ):
            raise PlanCheckError(f"{role['address']}: only lambda.amazonaws.com may assume it, found {statement}")
    for kind in _ATTACHMENTS:
        for rc in view.of_type(kind):
            refs = {r for key in ("role", "roles") for r in _refs(view.resource_config(rc)["expressions"], key)}
            if rc.get("module_address") == scope and f"aws_iam_role.{role_name}" in refs:
                raise PlanCheckError(f"{rc['address']}: a managed policy on {role['address']}")
    policies = [
        rc
        for rc in view.of_type("aws_iam_role_policy", scope)
        if f"aws_iam_role.{role_name}" in _refs(view.resource_config(rc)["expressions"], "role")
    ]
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


def _partition(plan: dict) -> str:
    """The partition the plan's provider works in, from the aws_partition data source where one is read,
    else "aws"."""

    def walk(module: dict):
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    for r in walk(plan.get("prior_state", {}).get("values", {}).get("root_module", {})):
        if r.get("mode") == "data" and r.get("type") == "aws_partition":
            return r["values"]["partition"]
    return "aws"


def _check_function_settings(view: PlanView, fn: dict, partition: str) -> None:
    after, where = fn["change"]["after"], fn["address"]
    for block in after.get("environment") or []:
        if not (block or {}).get("variables"):
            raise PlanCheckError(
                f"{where}: an environment block without variables never settles in a plan "
                f"(hashicorp/terraform-provider-aws#43763): leave the block out"
            )
    if partition != "aws" and after.get("logging_config"):
        raise PlanCheckError(
            f"{where}: logging_config is refused in the {partition} partition "
            f"(hashicorp/terraform-provider-aws#34810): leave the block out there"
        )
    name = after["function_name"]
    qualifiers = {"$LATEST"} | {
        a["change"]["after"]["name"]
        for a in view.of_type("aws_lambda_alias")
        if a["change"]["after"].get("function_name") == name
    }
    configs = {
        c["change"]["after"].get("qualifier") or "$LATEST": c
        for c in view.of_type("aws_lambda_function_event_invoke_config")
        if c["change"]["after"].get("function_name") == name
    }
    for qualifier in sorted(qualifiers):
        config = configs.get(qualifier)
        if config is None or config["change"]["after"].get("maximum_retry_attempts") != 0:
            raise PlanCheckError(
                f"{where}: asynchronous invocations of {name}:{qualifier} are retried "
                f"(Lambda's default is twice, each billed): add an "
                f"aws_lambda_function_event_invoke_config with maximum_retry_attempts = 0"
            )


OPERATOR_POLICY = "AWSLambdaManagedEC2ResourceOperator"


def _check_compute_modes(view: PlanView) -> None:
    functions = {f["change"]["after"]["function_name"]: f for f in view.of_type("aws_lambda_function")}
    aliases = {(a["change"]["after"].get("function_name"), a["change"]["after"].get("name"))
               for a in view.of_type("aws_lambda_alias")}
    provisioned = set()
    for pc in view.of_type("aws_lambda_provisioned_concurrency_config"):
        after, where = pc["change"]["after"], pc["address"]
        fn = functions.get(after.get("function_name"))
        if fn is None:
            raise PlanCheckError(f"{where}: provisioned concurrency for {after.get('function_name')}, not planned here")
        if (after["function_name"], after.get("qualifier")) not in aliases:
            raise PlanCheckError(f"{where}: provisioned concurrency on {after.get('qualifier')!r}, not on an alias "
                                 "of a published version (Lambda refuses it on $LATEST)")
        if not fn["change"]["after"].get("publish"):
            raise PlanCheckError(f"{where}: {after['function_name']} publishes no version for its alias")
        if fn["change"]["after"].get("snap_start"):
            raise PlanCheckError(f"{where}: SnapStart does not support provisioned concurrency")
        provisioned.add(after["function_name"])
    providers: dict[str, list[str]] = {}
    for cp in view.of_type("aws_lambda_capacity_provider"):
        _check_capacity_provider(view, cp, providers)
    for name, fn in functions.items():
        after, where = fn["change"]["after"], fn["address"]
        if not after.get("capacity_provider_config"):
            continue
        arch = (after.get("architectures") or ["x86_64"])[0]
        problems = [p for p, bad in (
            ("publishes no version", not after.get("publish")),
            (f"has {after.get('memory_size')} MB, under {lambda_facts.MANAGED_MIN_MEMORY_MB}",
             (after.get("memory_size") or 0) < lambda_facts.MANAGED_MIN_MEMORY_MB),
            ("has SnapStart", bool(after.get("snap_start"))),
            ("has provisioned concurrency", name in provisioned),
            (f"has no capacity provider of its architecture ({arch})", arch not in providers),
        ) if bad]
        if problems:
            raise PlanCheckError(f"{where} runs on Managed Instances but {'; '.join(problems)}")


def _check_capacity_provider(view: PlanView, cp: dict, providers: dict[str, list[str]]) -> None:
    after, where, module = cp["change"]["after"], cp["address"], cp.get("module_address")
    vpc = (after.get("vpc_config") or [{}])[0]
    if not vpc.get("subnet_ids") or not vpc.get("security_group_ids"):
        raise PlanCheckError(f"{where}: no subnets or security groups for its instances")
    wanted = (after.get("instance_requirements") or [{}])[0] or {}
    archs = wanted.get("architectures") or []
    if len(archs) != 1:
        raise PlanCheckError(f"{where}: one architecture per capacity provider, not {archs}")
    wrong = [t for t in wanted.get("allowed_instance_types") or [] if lambda_facts.instance_architecture(t) != archs[0]]
    if not wanted.get("allowed_instance_types") or wrong:
        raise PlanCheckError(f"{where}: allows instance types not of {archs[0]}: {wrong or 'none given'}")
    roles = view.of_type("aws_iam_role", module)
    if len(roles) != 1:
        raise PlanCheckError(f"{where}: expected its one operator role beside it, found {len(roles)}")
    for st in _policy_statements(roles[0]["change"]["after"].get("assume_role_policy"), roles[0]["address"]):
        principals = st.get("Principal") or {}
        if (st.get("Effect") != "Allow" or st.get("Action") not in ("sts:AssumeRole", ["sts:AssumeRole"])
                or principals != {"Service": "lambda.amazonaws.com"}):
            raise PlanCheckError(f"{roles[0]['address']}: the operator role must trust lambda.amazonaws.com alone")
    attached = [a["change"]["after"].get("policy_arn") or "" for a in view.of_type("aws_iam_role_policy_attachment",
                                                                                  module)]
    inline = view.of_type("aws_iam_role_policy", module)
    if inline or len(attached) != 1 or not attached[0].endswith(f":iam::aws:policy/{OPERATOR_POLICY}"):
        raise PlanCheckError(f"{roles[0]['address']}: the operator role holds {OPERATOR_POLICY} and nothing else "
                             f"(attached: {attached}, inline policies: {len(inline)})")
    providers.setdefault(archs[0], []).append(where)


def _attached(view: PlanView, type_name: str, bucket: dict) -> list[dict]:
    """The resources of `type_name` whose `bucket` refers to this bucket resource."""
    scope, ref = bucket.get("module_address"), f"{bucket['type']}.{bucket['name']}"
    return [
        rc for rc in view.of_type(type_name, scope) if ref in _refs(view.resource_config(rc)["expressions"], "bucket")
    ]


def _check_bucket(view: PlanView, bucket: dict) -> None:
    where = bucket["address"]
    denies_http = False
    for policy in _attached(view, "aws_s3_bucket_policy", bucket):
        for st in _policy_statements(policy["change"]["after"].get("policy"), policy["address"]):
            condition = st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if (
                st.get("Effect") == "Deny"
                and st.get("Principal") in ("*", {"AWS": "*"})
                and "s3:*" in _as_list(st.get("Action", []))
                and condition in ("false", ["false"])
            ):
                denies_http = True
    if not denies_http:
        raise PlanCheckError(f"{where}: no bucket policy denies requests without TLS (aws:SecureTransport false)")
    versioned = any(
        v["change"]["after"].get("versioning_configuration", [{}])[0].get("status") == "Enabled"
        for v in _attached(view, "aws_s3_bucket_versioning", bucket)
    )
    rules = [
        rule
        for lc in _attached(view, "aws_s3_bucket_lifecycle_configuration", bucket)
        for rule in lc["change"]["after"].get("rule") or []
        if rule.get("status") == "Enabled"
    ]
    if not any(r.get("abort_incomplete_multipart_upload") for r in rules):
        raise PlanCheckError(f"{where}: no lifecycle rule aborts incomplete multipart uploads (their parts are billed)")
    if versioned and not any(r.get("noncurrent_version_expiration") for r in rules):
        raise PlanCheckError(
            f"{where}: versioned, but no lifecycle rule expires noncurrent versions "
            f"(every replaced zip would be kept, and billed, for ever)"
        )


def _check_url_callers(plan: dict, view: PlanView) -> None:
    """Function URLs come with the root output `function_url_caller_policy` that gives callers both actions."""
    urls = sorted({u["change"]["after"].get("function_name") for u in view.of_type("aws_lambda_function_url")})
    if not urls:
        return
    output = plan.get("planned_values", {}).get("outputs", {}).get("function_url_caller_policy")
    if output is None:
        raise PlanCheckError(
            "Function URLs are planned but no output function_url_caller_policy tells callers "
            "what they need (lambda:InvokeFunctionUrl and lambda:InvokeFunction)"
        )
    granted: dict[str, set[str]] = {}
    for st in _policy_statements(output.get("value"), "output function_url_caller_policy"):
        for resource in _as_list(st.get("Resource", [])):
            name = resource.rsplit(":function:", 1)[-1].split(":")[0]
            granted.setdefault(name, set()).update(_as_list(st.get("Action", [])))
    for name in urls:
        missing = {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"} - granted.get(name, set())
        if missing:
            raise PlanCheckError(
                f"output function_url_caller_policy: a caller of {name}'s URL also needs "
                f"{sorted(missing)} (both are required since October 2025)"
            )


def check(plan: dict, expected: set[tuple[str, str]] | None = None,
          kinds: dict[str, str] | None = None) -> list[PlannedFunction]:
    """Every rule above, on one plan; `expected` is the set of (handler, architecture) it must create, `kinds` the
    layer kind each handler runs on."""
    view = PlanView(plan)
    partition = _partition(plan)
    found: list[PlannedFunction] = []
    for fn in view.of_type("aws_lambda_function"):
        after = fn["change"]["after"]
        arch = (after.get("architectures") or ["x86_64"])[0]
        kind = (kinds or {}).get(after["handler"])
        layer_module = _layer_instance(view, fn, kind)
        layers = view.of_type("aws_lambda_layer_version", layer_module)
        if len(layers) != 1:
            raise PlanCheckError(f"{fn['address']}: expected one layer in {layer_module}, found {len(layers)}")
        if kind and kind not in layers[0]["change"]["after"]["layer_name"].split("-"):
            raise PlanCheckError(f"{fn['address']} runs {after['handler']} (the {kind} backend) but gets "
                                 f"{layers[0]['address']} ({layers[0]['change']['after']['layer_name']})")
        layer_arch = layers[0]["change"]["after"].get("compatible_architectures")
        if layer_arch != [arch]:
            raise PlanCheckError(
                f"{fn['address']} runs on {arch} but gets {layers[0]['address']}, built for {layer_arch}"
            )
        logging = (after.get("logging_config") or [{}])[0]
        log_group = logging.get("log_group") or f"/aws/lambda/{after['function_name']}"
        tracing = (after.get("tracing_config") or [{}])[0].get("mode") or "PassThrough"
        _check_role(view, fn, log_group, tracing)
        _check_function_settings(view, fn, partition)
        if not any(g["change"]["after"].get("name") == log_group for g in view.of_type("aws_cloudwatch_log_group")):
            raise PlanCheckError(
                f"{fn['address']}: its log group {log_group} is not created here, so no retention is set"
            )
        found.append(
            PlannedFunction(
                fn["address"], after["function_name"], after["handler"], arch, layers[0]["address"], log_group
            )
        )
    for group in view.of_type("aws_cloudwatch_log_group"):
        if not group["change"]["after"].get("retention_in_days"):
            raise PlanCheckError(f"{group['address']}: no retention_in_days (logs would be kept forever)")
    for url in view.of_type("aws_lambda_function_url"):
        if url["change"]["after"].get("authorization_type") != "AWS_IAM":
            raise PlanCheckError(
                f"{url['address']}: a public Function URL (authorization_type "
                f"{url['change']['after'].get('authorization_type')})"
            )
    for permission in view.of_type("aws_lambda_permission"):
        if permission["change"]["after"].get("principal") == "*":
            raise PlanCheckError(f"{permission['address']}: lets anyone invoke the function")
    for bucket in view.of_type("aws_s3_bucket"):
        _check_bucket(view, bucket)
    _check_url_callers(plan, view)
    _check_compute_modes(view)
    pairs = [(f.handler, f.architecture) for f in found]
    if len(set(pairs)) != len(pairs):
        raise PlanCheckError(f"more than one function for the same handler and architecture: {sorted(pairs)}")
    if len({f.log_group for f in found}) != len(found):
        raise PlanCheckError("two functions share a log group")
    if expected is not None and set(pairs) != expected:
        raise PlanCheckError(f"functions planned for {sorted(pairs)}, expected {sorted(expected)}")
    return found
