"""How function code is isolated: bubblewrap with namespaces of its own, Lambda's unprivileged user, no
capabilities, and an environment of exactly the variables Lambda sets plus the function's own.

Lambda runs function code as `sbx_user1051` (uid 993) without capabilities in namespaces of its own,
with `/opt` and `/var/task` read-only and only `/tmp` writable. Here: user, pid, ipc, uts and cgroup
namespaces; the sandbox root read-only as `/`; the code and layer read-only on top; a `/tmp` of its own
(`sandbox.storage`); a fresh `/proc` that shows only the sandbox's processes. The network namespace is the
environment's own, where only its Runtime API listens (`sandbox.network`).

Every value reaches the runtime as an argument (`--setenv`), never through the environment of a
host-side process: bubblewrap starts from a fixed environment. The command is built by
`sandbox.roots.sandboxed`, which the layer build also uses to check arm64 layers under emulation; this module
holds what Lambda refuses in a function's own environment.
"""
from __future__ import annotations

# Lambda refuses these in a function's configuration (InvalidParameterValueException): they describe the
# environment, the runtime or the credentials, and only Lambda sets them.
RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
