"""A schema-only stand-in for `hashicorp/aws`: a Terraform provider plugin (protocol 6) for offline checks.

Terraform itself validates and plans against the real provider schema this plugin serves. The plugin
talks to no AWS API: a plan marks computed attributes unknown, a few data sources answer with plausible
values, refresh returns what the state holds, and apply is refused. The plugin handshake, TLS and the
gRPC server come from the `tf` package (`tf.runner.run_provider`).
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import grpc
import tf.provider
from google.protobuf.message import DecodeError
from tf.gen import tfplugin_pb2 as pb
from tf.iface import Provider
from tf.runner import run_provider
from tf.schema import Schema
from tf.types import Unknown
from tf.utils import Diagnostics, read_dynamic_value, to_dynamic_value

from lambda_ml_bench.aws import ACCOUNT
from lambda_ml_bench.tfcheck import policy, schema
from lambda_ml_bench.tfcheck.errors import PolicyError

ACCOUNT_ID = ACCOUNT  # the account every stand-in for AWS answers with
DEFAULT_REGION = "us-east-1"
REFUSED = ("This provider is a schema-only stand-in for offline checks (terraform validate and plan): it "
           "cannot create, change or import anything. Run terraform with the real hashicorp/aws provider, "
           "outside the offline check's TF_CLI_CONFIG_FILE, to apply.")
_CACHE_ENV = "TFCHECK_SCHEMA_CACHE"


def _partition(region: str) -> tuple[str, str, str]:
    """(partition, dns suffix, reverse DNS prefix) of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn", "cn.com.amazonaws"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com", "com.amazonaws"
    return "aws", "amazonaws.com", "com.amazonaws"


def unknown_computed(value: dict | None, block: dict) -> dict | None:
    """A planned new object: every computed attribute the configuration leaves null becomes unknown."""
    if value is None or value is Unknown:
        return value
    out = dict(value)
    for name, spec in block.get("attributes", {}).items():
        if spec.get("computed") and out.get(name) is None:
            out[name] = Unknown
    for name, nested in block.get("block_types", {}).items():
        inner, current = nested["block"], out.get(name)
        if current is None or current is Unknown:
            continue
        if nested["nesting_mode"] in ("list", "set"):
            out[name] = [unknown_computed(v, inner) for v in current]
        elif nested["nesting_mode"] == "map":
            out[name] = {k: unknown_computed(v, inner) for k, v in current.items()}
        else:
            out[name] = unknown_computed(current, inner)
    return out


def null_computed(value: dict, block: dict) -> dict:
    """A data source's answer where the stand-in knows nothing: computed attributes left null."""
    return {**value, **{n: value.get(n) for n in block.get("attributes", {})}}


def unconfigurable(config, block: dict, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, name) of every computed-only attribute the configuration sets, nested blocks included: the
    one schema rule Terraform leaves to providers."""
    if not isinstance(config, dict):
        return []
    found = [((*path, name), name) for name, spec in block.get("attributes", {}).items()
             if spec.get("computed") and not spec.get("optional") and not spec.get("required")
             and config.get(name) is not None]
    for name, nested in block.get("block_types", {}).items():
        value = config.get(name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                found += unconfigurable(item, nested["block"], (*path, name, (i,)))
        elif isinstance(value, dict) and nested["nesting_mode"] == "map":
            for key, item in value.items():
                found += unconfigurable(item, nested["block"], (*path, name, (key,)))
        else:
            found += unconfigurable(value, nested["block"], (*path, name))
    return found


def _validate(block: dict, kind: str, type_name: str, config_value: pb.DynamicValue) -> Diagnostics:
    diags = Diagnostics()
    config = read_dynamic_value(config_value)
    for path, name in unconfigurable(config, block):
        diags.add_error("Value for unconfigurable attribute",
                        f'Can\'t configure a value for "{name}": its value will be decided automatically based on '
                        "the result of applying this configuration.", path=list(path))
    if kind == "data" and type_name == "aws_iam_policy_document" and isinstance(config, dict):
        for path, message in policy.invalid(config):
            diags.add_error("Invalid aws_iam_policy_document", message, path=list(path))
    return diags


class StandInProvider(Provider):
    """The `tf.iface.Provider` the runner needs; the work is done by `StandInServicer`."""

    def get_model_prefix(self) -> str:
        return "aws_"

    def full_name(self) -> str:
        return schema.SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema()

    def validate_config(self, diags: Diagnostics, config: dict) -> None:
        return None

    def configure_provider(self, diags: Diagnostics, config: dict) -> None:
        return None

    def get_data_sources(self) -> list:
        return []

    def get_resources(self) -> list:
        return []


class StandInServicer(tf.provider.ProviderServicer):
    """Answers Terraform's plugin calls from the schema file alone."""

    def __init__(self, app: Provider):
        super().__init__(app)
        self.region = DEFAULT_REGION
        self.account_id = ACCOUNT_ID
        self._schema_response: pb.GetProviderSchema.Response | None = None
        self._blocks: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()  # Terraform calls in parallel; the schema is read once

    # --- schema ---------------------------------------------------------------------------------
    def _build_schema(self) -> pb.GetProviderSchema.Response:
        whole = schema.provider_schemas()
        return pb.GetProviderSchema.Response(
            provider=pb.Schema(version=0, block=schema.block_pb(schema.PROVIDER_BLOCK)),
            provider_meta=pb.Schema(version=0, block=pb.Schema.Block()),
            resource_schemas={n: schema.schema_pb(e) for n, e in whole["resource_schemas"].items()},
            data_source_schemas={n: schema.schema_pb(e) for n, e in whole["data_source_schemas"].items()},
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True),
        )

    def _block(self, kind: str, type_name: str) -> dict:
        """A type's block as `schema.block_dict` gives it, from the schema served (no JSON parsing)."""
        key = (kind, type_name)
        if key not in self._blocks:
            served = self._schema()
            entries = served.resource_schemas if kind == "resource" else served.data_source_schemas
            self._blocks[key] = schema.block_dict(entries[type_name].block) if type_name in entries else {}
        return self._blocks[key]

    def _schema(self) -> pb.GetProviderSchema.Response:
        """Built from the JSON once, then read from the serialised cache (~10x faster to load)."""
        with self._lock:
            return self._load_schema()

    def _load_schema(self) -> pb.GetProviderSchema.Response:
        if self._schema_response is None:
            cache = os.environ.get(_CACHE_ENV)
            path = Path(cache) if cache else None
            if path and path.is_file():
                try:
                    self._schema_response = pb.GetProviderSchema.Response.FromString(path.read_bytes())
                except DecodeError:  # a damaged cache is rebuilt, not trusted
                    path.unlink(missing_ok=True)
            if self._schema_response is None:
                self._schema_response = self._build_schema()
                if path:
                    partial = path.with_name(path.name + f".{os.getpid()}.partial")
                    partial.write_bytes(self._schema_response.SerializeToString())
                    partial.replace(path)
        return self._schema_response

    def GetMetadata(self, request, context: grpc.ServicerContext):
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True))

    def GetProviderSchema(self, request, context: grpc.ServicerContext):
        return self._schema()

    # --- validation: Terraform checks configurations against the schema; computed-only is ours ----
    def ValidateProviderConfig(self, request, context: grpc.ServicerContext):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context: grpc.ServicerContext):
        return pb.ValidateResourceConfig.Response(
            diagnostics=_validate(self._block("resource", request.type_name), "resource", request.type_name,
                                  request.config).to_pb())

    def ValidateDataResourceConfig(self, request, context: grpc.ServicerContext):
        return pb.ValidateDataResourceConfig.Response(
            diagnostics=_validate(self._block("data", request.type_name), "data", request.type_name,
                                  request.config).to_pb())

    def ConfigureProvider(self, request, context: grpc.ServicerContext):
        config = read_dynamic_value(request.config) or {}
        region = config.get("region")
        self.region = region if isinstance(region, str) and region else DEFAULT_REGION
        allowed = config.get("allowed_account_ids")
        if isinstance(allowed, list) and allowed and all(isinstance(a, str) for a in allowed):
            self.account_id = sorted(allowed)[0]
        return pb.ConfigureProvider.Response()

    # --- resources --------------------------------------------------------------------------------
    def UpgradeResourceState(self, request, context: grpc.ServicerContext):
        return pb.UpgradeResourceState.Response(upgraded_state=pb.DynamicValue(json=request.raw_state.json))

    def ReadResource(self, request, context: grpc.ServicerContext):
        """Refresh changes nothing: the state is all the stand-in knows."""
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def PlanResourceChange(self, request, context: grpc.ServicerContext):
        proposed = read_dynamic_value(request.proposed_new_state)
        prior = read_dynamic_value(request.prior_state)
        if proposed is None:  # destroy
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        if prior is None:  # create: what the provider would compute is not known until apply
            block = self._block("resource", request.type_name)
            return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(unknown_computed(proposed, block)))
        return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state,
                                              planned_private=request.prior_private)

    def ApplyResourceChange(self, request, context: grpc.ServicerContext):
        diags = Diagnostics().add_error("Apply refused by the offline stand-in for hashicorp/aws", REFUSED)
        return pb.ApplyResourceChange.Response(diagnostics=diags.to_pb())

    def ImportResourceState(self, request, context: grpc.ServicerContext):
        diags = Diagnostics().add_error("Import refused by the offline stand-in for hashicorp/aws", REFUSED)
        return pb.ImportResourceState.Response(diagnostics=diags.to_pb())

    # --- data sources -------------------------------------------------------------------------------
    def _answer(self, type_name: str, config: dict) -> dict:
        partition, dns_suffix, reverse_dns = _partition(self.region)
        if type_name == "aws_caller_identity":
            return {**config, "account_id": self.account_id, "id": self.account_id, "user_id": "AIDAOFFLINECHECK",
                    "arn": f"arn:{partition}:iam::{self.account_id}:user/offline-check"}
        if type_name == "aws_region":
            region = config.get("region") or config.get("name") or self.region
            return {**config, "region": region, "name": region, "id": region,
                    "endpoint": f"ec2.{region}.{dns_suffix}", "description": region}
        if type_name == "aws_partition":
            return {**config, "partition": partition, "dns_suffix": dns_suffix,
                    "reverse_dns_prefix": reverse_dns, "id": partition}
        if type_name == "aws_iam_policy_document":
            return {**config, **policy.render(config)}
        return null_computed(config, self._block("data", type_name))

    def ReadDataSource(self, request, context: grpc.ServicerContext):
        config = read_dynamic_value(request.config) or {}
        diags = Diagnostics()
        try:
            state = self._answer(request.type_name, config)
        except PolicyError as exc:
            diags.add_error(f"Invalid {request.type_name}", str(exc))
            return pb.ReadDataSource.Response(diagnostics=diags.to_pb())
        return pb.ReadDataSource.Response(state=to_dynamic_value(state), diagnostics=diags.to_pb())


def main(argv: list[str] | None = None) -> None:
    # run_provider builds `tf.provider.ProviderServicer(provider)`; this provider's calls are answered
    # by the subclass above, so the runner is pointed at it.
    tf.provider.ProviderServicer = StandInServicer
    run_provider(StandInProvider(), argv or sys.argv)
    sys.stdout.flush()
    os._exit(0)  # the server has stopped; skip tearing down gRPC's threads (~50-100 ms per plugin start)
