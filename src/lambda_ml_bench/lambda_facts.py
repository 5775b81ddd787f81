"""Every fact about AWS Lambda the project relies on, in one place: limits, ranges, the vCPU curve, the REPORT line
(format, parsing, billed-duration rounding) and prices with their date and source.

Standard library only, and importing nothing of the project: the function package carries this file as
handlers/lambda_facts.py (a link in the source tree), so the handlers read the vCPU curve from here too.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

# --- limits (AWS Lambda quotas page, checked 2026-11) ------------------------------------------------
UNZIPPED_LIMIT = 262_144_000  # bytes: function code plus all layers, unzipped
DIRECT_UPLOAD_LIMIT = 52_428_800  # bytes: a zip passed in the API call instead of via S3
LAYER_MOUNT = "/opt/python"  # where Lambda puts a layer's python/ folder on sys.path
# LD_LIBRARY_PATH of every function (AWS Lambda docs, "Defined runtime environment variables"): a layer's lib/ is
# /opt/lib
LIBRARY_PATH = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
MEMORY_MB = (128, 10_240)  # MemorySize, inclusive
TIMEOUT_S = (1, 900)  # Timeout, inclusive
EPHEMERAL_STORAGE_MB = (512, 10_240)  # EphemeralStorage.Size, inclusive; 512 by default
DEFAULT_EPHEMERAL_STORAGE_MB = 512
INIT_ALLOWANCE_S = 10  # INIT runs outside the function's timeout for up to this long, then is retried within it
SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024  # a RequestResponse invocation's request
ASYNC_PAYLOAD_BYTES = 1024 * 1024  # an Event invocation's request
RESPONSE_BYTES = 6_291_556  # a function's response (test_lambda_too_large_response: Function.ResponseSizeTooLarge)
FILE_DESCRIPTORS = 1024  # open files per execution environment
PROCESSES = 1024  # processes and threads per execution environment

# --- CPU: in proportion to memory ------------------------------------------------------------------
MB_PER_VCPU = 1769  # one vCPU at 1,769 MB
MAX_VCPUS = 6  # at 10,240 MB


def vcpus(memory_mb: int) -> float:
    """Lambda's CPU share for a memory size: one vCPU per 1,769 MB up to five at 8,845 MB, then up to six at the
    10,240 MB maximum (AWS documents both ends, not the curve between)."""
    five = 5 * MB_PER_VCPU
    if memory_mb <= five:
        return memory_mb / MB_PER_VCPU
    return min(MAX_VCPUS, 5 + (memory_mb - five) / (MEMORY_MB[1] - five))


def whole_vcpus(memory_mb: int) -> int:
    """The vCPUs a process sees at this memory size (threads worth running): the share, rounded up."""
    return max(1, math.ceil(vcpus(memory_mb) - 1e-9))


# --- the REPORT line ------------------------------------------------------------------------------------
# The billed duration is the handler duration plus (since 1 August 2025, for zip functions on managed runtimes)
# the INIT phase, rounded up to the next millisecond.
_REPORT = re.compile(r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
                     r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
                     r"Max Memory Used: (?P<used>\d+) MB(\s+Init Duration: (?P<init>[\d.]+) ms)?"
                     r"(\s+Restore Duration: (?P<restore>[\d.]+) ms)?")


class ReportLineError(ValueError):
    """A log without a REPORT line."""


def billed_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """Lambda rounds the (INIT plus) handler duration up to the next millisecond."""
    return math.ceil(duration_ms + (init_ms or 0.0))


@dataclass(frozen=True)
class Report:
    """The figures of one REPORT line."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None

    def line(self) -> str:
        """The line as Lambda writes it (tab-separated, a trailing tab)."""
        return (f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
                f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
                f"Max Memory Used: {self.max_memory_used_mb} MB\t"
                + (f"Init Duration: {self.init_ms:.2f} ms\t" if self.init_ms is not None else ""))

    def as_dict(self) -> dict:
        return {"request_id": self.request_id, "duration_ms": self.duration_ms, "billed_ms": self.billed_ms,
                "memory_mb": self.memory_mb, "max_memory_used_mb": self.max_memory_used_mb,
                "init_ms": self.init_ms, "restore_ms": self.restore_ms}


def report(request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int,
           init_ms: float | None = None) -> Report:
    return Report(request_id, duration_ms, billed_ms(duration_ms, init_ms), memory_mb, max_memory_used_mb, init_ms)


def parse_report(log: str) -> Report:
    """The last REPORT line of a log (a LogType=Tail log ends with it)."""
    matches = list(_REPORT.finditer(log))
    if not matches:
        raise ReportLineError(f"no REPORT line in the log tail: {log[-300:]!r}")
    m = matches[-1]
    return Report(m["id"], float(m["duration"]), int(m["billed"]), int(m["memory"]), int(m["used"]),
                  float(m["init"]) if m["init"] else None, float(m["restore"]) if m["restore"] else None)


# --- prices --------------------------------------------------------------------------------------------
MB_PER_GB = 1024  # Lambda bills memory in GB of 1,024 MB


@dataclass(frozen=True)
class Prices:
    """A region's Lambda prices, as AWS's pricing page gives them on the date `as_of` (USD; by architecture where
    they differ)."""

    as_of: str
    source: str
    gb_second: dict[str, float]  # on-demand: per GB-second of billed duration
    request: float  # per request, every mode
    provisioned_gb_second: dict[str, float]  # provisioned concurrency: per GB-second configured, used or not
    provisioned_duration_gb_second: dict[str, float]  # per GB-second of duration on a provisioned environment
    snapstart_cache_gb_second: float  # SnapStart (Python): per GB-second a published version's snapshot is cached
    snapstart_restore_gb: float  # per GB restored (memory size × restores)


# Lambda's prices as published by AWS, true on the date given. Change here and nowhere else; add a region only with
# its published prices (a user's own, for Savings Plans or another region: `lmb plan --prices FILE`).
PRICES = {
    "us-east-1": Prices("2026-11-01", "https://aws.amazon.com/lambda/pricing/",
                        {"x86_64": 0.0000166667, "arm64": 0.0000133334}, 0.20 / 1_000_000,
                        provisioned_gb_second={"x86_64": 0.0000041667, "arm64": 0.0000033334},
                        provisioned_duration_gb_second={"x86_64": 0.0000097222, "arm64": 0.0000077778},
                        snapstart_cache_gb_second=0.0000015046, snapstart_restore_gb=0.0001397998),
}
DEFAULT_REGION = "us-east-1"
MONTH_S = 730 * 3600  # a month as AWS's pricing examples count it: 730 hours
PROVISIONED_BILLING_S = 300  # provisioned concurrency is billed from enabling to disabling, rounded up to 5 minutes
SNAPSTART_CACHE_MIN_S = 3 * 3600  # a version's snapshot cache is billed for at least three hours

# --- on-demand scaling (Lambda quotas and scaling pages, checked 2026-11) -------------------------------
ACCOUNT_CONCURRENCY = 1000  # concurrent executions per region, by default
SCALE_STEP = 1000  # each function may add this many environments ...
SCALE_PERIOD_S = 10  # ... every this many seconds
# How long an idle environment lives: AWS does not say. Measured: every idle instance lived precisely 10 minutes
# after its last request (https://mikhail.io/2019/08/aws-lambda-cold-starts-after-10-minutes/).
IDLE_RECLAIM_S = 600
IDLE_RECLAIM_SOURCE = "https://mikhail.io/2019/08/aws-lambda-cold-starts-after-10-minutes/"


# --- Lambda Managed Instances (lambda-managed-instances, -scaling, -python-runtime pages, checked 2026-11) ---------
@dataclass(frozen=True)
class InstanceType:
    name: str
    architecture: str
    vcpus: int
    memory_gib: float
    usd_per_hour: float  # EC2 on-demand, Linux


_GRAVITON_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z-]*)\.")  # a g right after the generation: m7g, c7gn, r8gd, t4g


def instance_architecture(instance_type: str) -> str:
    """The architecture of an EC2 instance type, from its name: Graviton families have a g after the generation."""
    return "arm64" if _GRAVITON_FAMILY.match(instance_type) else "x86_64"


MANAGED_FEE = 0.15  # management fee: 15% of the instance's EC2 on-demand price
MANAGED_MIN_INSTANCES = 3  # launched by default, one per Availability Zone
MANAGED_PER_VCPU_CONCURRENCY = 16  # Python: one process per concurrent request, 16 per vCPU by default
MANAGED_MEMORY_GIB_PER_VCPU = (2.0, 8.0)  # ExecutionEnvironmentMemoryGiBPerVCpu, inclusive
MANAGED_MIN_MEMORY_MB = 2048  # a function on Managed Instances has at least 2 GB and one vCPU
MANAGED_DOUBLING_S = 300  # traffic that more than doubles within 5 minutes may be throttled while it scales
INSTANCE_PRICES_AS_OF = "2026-06-17"
INSTANCE_PRICES_SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, Linux)"
INSTANCE_TYPES = {t.name: t for t in (  # every one's architecture is instance_architecture(name)
    InstanceType("m7g.large", "arm64", 2, 8, 0.0816),
    InstanceType("m7g.xlarge", "arm64", 4, 16, 0.1632),
    InstanceType("c7g.xlarge", "arm64", 4, 8, 0.1450),
    InstanceType("m7i.large", "x86_64", 2, 8, 0.1008),
    InstanceType("m7i.xlarge", "x86_64", 4, 16, 0.2016),
    InstanceType("c7i.xlarge", "x86_64", 4, 8, 0.1785),
)}
