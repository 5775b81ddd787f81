"""How function code is isolated: bubblewrap with namespaces of its own, Lambda's unprivileged user, no
capabilities, and an environment of exactly the variables Lambda sets plus the function's own.

Lambda runs function code as `sbx_user1051` (uid 993) without capabilities in namespaces of its own,
with `/opt` and `/var/task` read-only and only `/tmp` writable. Here: user, pid, ipc, uts and cgroup
namespaces; the sandbox root read-only as `/`; the code and layer read-only on top; a private `/tmp`;
a fresh `/proc` that shows only the sandbox's processes. The network namespace is the host's: the
runtime must reach the emulator's Runtime API on 127.0.0.1 (see the README's limits).

Every value reaches the runtime as an argument (`--setenv`), never through the environment of a
host-side process: bubblewrap itself and the emulator start from a fixed environment.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from layer_build.platforms import Architecture

SANDBOX_UID, SANDBOX_GID = 993, 990  # Lambda's sbx_user1051
HOSTNAME = "localhost"
EMULATOR_MOUNT = "qemu"  # a static emulator binary is bound here for emulated architectures
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}  # every host-side process starts from this

# Lambda refuses these in a function's configuration (InvalidParameterValueException): they describe the
# environment, the runtime or the credentials, and only Lambda sets them.
RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})


def tool(name: str) -> str:
    """A host tool by absolute path, looked up once in the service's own PATH (never the function's)."""
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (make sandbox installs it)")
    return path


def sandboxed(arch: Architecture, root: Path, argv: list[str], binds: dict[str, Path] | None = None,
              environment: dict[str, str] | None = None, chdir: str = "/", isolate: bool = True) -> list[str]:
    """`argv` run inside the root (read-only as /), `binds` read-only on top (mount point -> host folder),
    a private /tmp, under the emulator where `arch` needs one, with exactly `environment`.

    `isolate=False` keeps the caller's user and namespaces (for checking a freshly built root as root)."""
    cmd = [tool("bwrap")]
    if isolate:
        cmd += ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", HOSTNAME, "--cap-drop", "ALL"]
    cmd += ["--ro-bind", str(root), "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
            "--die-with-parent", "--new-session", "--clearenv", "--chdir", chdir]
    for key, value in (environment or {}).items():
        cmd += ["--setenv", key, value]
    for mount, source in (binds or {}).items():
        cmd += ["--ro-bind", str(source), mount]
    if not arch.emulator:
        return [*cmd, *argv]
    cmd += ["--ro-bind", tool(arch.emulator[0]), f"/{EMULATOR_MOUNT}"]
    return [*cmd, f"/{EMULATOR_MOUNT}", *arch.emulator[1:], *argv]
