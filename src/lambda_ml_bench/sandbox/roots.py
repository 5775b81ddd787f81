"""Sandbox roots: a Debian trixie CPython 3.13 root per architecture (`make sandbox`), AWS's Runtime Interface
Emulator (the baseline the local Lambda's benchmark measures it against), the bubblewrap command that runs a program
inside a root (emulated for arm64), and the thread that starts sandboxes. The layer build checks layers in them; the
local Lambda runs function code in them."""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from lambda_ml_bench.build.errors import BuildError
from lambda_ml_bench.build.platforms import ARCHITECTURES, RUNTIMES, SANDBOX_PYTHON, Architecture
from lambda_ml_bench.build.sysdeps import ensure_debian_packages
from lambda_ml_bench.build.wheels import LOCK_DIR, download, lock_path, pip_install, read_lock
from lambda_ml_bench.files import atomic_write, sha256_file, write_json
from lambda_ml_bench.paths import DIST, cache_dir

SANDBOX_UID, SANDBOX_GID = 993, 990  # Lambda's sbx_user1051
HOSTNAME = "localhost"
EMULATOR_MOUNT = "qemu"  # a static emulator binary is bound here for emulated architectures
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}  # every host-side process starts from this


SANDBOX_ENV = "LOCAL_LAMBDA_SANDBOX"  # where the roots, the RIE and unpacked code live (default dist/sandbox)


def sandbox_dir() -> Path:
    return Path(os.environ.get(SANDBOX_ENV) or DIST / "sandbox")
DEBIAN = {"suite": "trixie", "mirror": "http://deb.debian.org/debian",
          "keyring": "/usr/share/keyrings/debian-archive-keyring.gpg"}
ROOT_PACKAGES = ("python3.13", "libstdc++6")  # the scientific wheels need libstdc++
HOST_TOOLS = {"bwrap": "bubblewrap", "qemu-aarch64-static": "qemu-user-static", "dpkg-deb": "dpkg"}
# Mount points the execution environment binds over a read-only root.
MOUNT_POINTS = ("opt", "var/task", "var/runtime", "tmp", "proc", "dev")
PYTHON = "/usr/bin/python3.13"  # the root's interpreter, as the runtime's


def root_dir(arch: Architecture) -> Path:
    return sandbox_dir() / arch.name / "root"


def _apt(arch: Architecture, apt_root: Path, *args: str) -> None:
    options = [
        f"-o Dir={apt_root}", f"-o Dir::State::status={apt_root}/var/lib/dpkg/status",
        f"-o APT::Architecture={arch.debian_arch}", f"-o APT::Architectures::={arch.debian_arch}",
        "-o Dir::Etc::trusted=/dev/null", "-o Dir::Etc::TrustedParts=/dev/null",
        "-o Debug::NoLocking=1", "-o APT::Sandbox::User=root",
    ]
    cmd = ["apt-get", "-q", *" ".join(options).split(), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"apt-get {args[0]} for {arch.debian_arch} failed:\n{proc.stderr.strip()[-1500:]}")


def download_debs(arch: Architecture, say: Callable[[str], None]) -> list[Path]:
    """Debian's signed packages, resolved in a private apt root; nothing on the host changes."""
    apt_root = cache_dir() / "apt" / f"{DEBIAN['suite']}-{arch.debian_arch}"
    for sub in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/dpkg",
                "var/cache/apt/archives/partial", "var/lib/apt/lists/partial"):
        (apt_root / sub).mkdir(parents=True, exist_ok=True)
    (apt_root / "var/lib/dpkg/status").touch()
    (apt_root / "etc/apt/sources.list").write_text(
        f"deb [signed-by={DEBIAN['keyring']}] {DEBIAN['mirror']} {DEBIAN['suite']} main\n")
    say(f"[sandbox {arch.name}] apt-get update ({DEBIAN['suite']}, {arch.debian_arch}, signatures checked)")
    _apt(arch, apt_root, "update")
    say(f"[sandbox {arch.name}] downloading {', '.join(ROOT_PACKAGES)} and their dependencies")
    _apt(arch, apt_root, "install", "--download-only", "-y", "--no-install-recommends", *ROOT_PACKAGES)
    return sorted((apt_root / "var/cache/apt/archives").glob("*.deb"))


def _deb_field(deb: Path, field: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True,
                          check=True).stdout.strip()


def prepare(arch: Architecture, say: Callable[[str], None] = print) -> Path:
    """The root folder of one architecture; rebuilt only when its inputs changed."""
    ensure_debian_packages(HOST_TOOLS, say)
    rt = RUNTIMES[SANDBOX_PYTHON]
    lock = lock_path(arch, rt, "runtime")
    stamp = sandbox_dir() / arch.name / "sandbox.json"
    wanted = {"runtime_lock_sha256": sha256_file(lock), "packages": list(ROOT_PACKAGES), **DEBIAN}
    if stamp.exists() and root_dir(arch).is_dir():
        if {k: v for k, v in json.loads(stamp.read_text()).items() if k in wanted} == wanted:
            return root_dir(arch)
    debs = download_debs(arch, say)
    partial = sandbox_dir() / arch.name / "root.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    say(f"[sandbox {arch.name}] unpacking {len(debs)} packages")
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
    for link in ("lib", "lib64", "bin", "sbin"):  # trixie has a merged /usr
        if (partial / "usr" / link).is_dir() and not (partial / link).exists():
            (partial / link).symlink_to(f"usr/{link}")
    for mount in MOUNT_POINTS:
        (partial / mount).mkdir(parents=True, exist_ok=True)
    (partial / EMULATOR_MOUNT).touch()
    say(f"[sandbox {arch.name}] installing the runtime interface client into /var/runtime")
    pins = read_lock(lock)
    wheels = download(arch, rt, pins, lock)
    pip_install(partial / "var" / "runtime", arch, rt, next(iter(wheels.values())).parent, lock)
    shutil.rmtree(partial / "var" / "runtime" / "bin", ignore_errors=True)
    machine = check_root(partial, arch)
    say(f"[sandbox {arch.name}] /usr/bin/python3.13 runs and reports {machine}")
    final = root_dir(arch)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    write_json(stamp, {**wanted, "architecture": arch.name,
                       "debs": {_deb_field(d, "Package"): _deb_field(d, "Version") for d in debs},
                       "runtime_client": {p.name: p.version for p in pins}})
    return final


def check_root(root: Path, arch: Architecture) -> str:
    """Run the root's own interpreter (emulated where needed); it must be of `arch`."""
    probe = "import platform, awslambdaric; print(platform.machine())"
    command = sandboxed(
        arch, root, [PYTHON, "-c", probe], environment={"PATH": "/usr/bin", "PYTHONPATH": "/var/runtime"}
    )
    proc = subprocess.run(command, capture_output=True, text=True, env=HOST_ENV, timeout=300)
    machine = proc.stdout.strip()
    if proc.returncode != 0 or machine != arch.uname:
        raise BuildError(f"the {arch.name} root does not run: {machine!r} {proc.stderr.strip()[-1000:]}")
    return machine


def rie_binary(say: Callable[[str], None] = print) -> Path:
    """The Runtime Interface Emulator for this host, from the pinned aws-sam-cli wheel."""
    from lambda_ml_bench.build.platforms import host_architecture

    host = host_architecture()
    if host is None:
        raise BuildError("the local Lambda needs an x86_64 or arm64 host")
    target = sandbox_dir() / "rie" / host.rie
    if target.exists():
        return target
    lock = LOCK_DIR / "tools.txt"
    wheels = download(ARCHITECTURES["x86_64"], RUNTIMES[SANDBOX_PYTHON], read_lock(lock), lock)
    wheel = wheels["aws-sam-cli"]
    say(f"[sandbox] extracting {host.rie} from {wheel.name}")
    with zipfile.ZipFile(wheel) as zf:
        atomic_write(target, zf.read(f"samcli/local/rapid/{host.rie}"), mode=0o755)
    return target


def prepare_all(arch_names: list[str], say: Callable[[str], None] = print) -> None:
    rie_binary(say)
    for name in arch_names:
        prepare(ARCHITECTURES[name], say)
        say(f"[sandbox {name}] ready: {os.path.relpath(root_dir(ARCHITECTURES[name]))}")


def tool(name: str) -> str:
    """A host tool by absolute path, looked up once in the service's own PATH (never the function's)."""
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (make sandbox installs it)")
    return path


def sandboxed(arch: Architecture, root: Path, argv: list[str], binds: dict[str, Path] | None = None,
              environment: dict[str, str] | None = None, chdir: str = "/", isolate: bool = True,
              tmp: Path | int | None = None) -> list[str]:
    """`argv` run inside the root (read-only as /), `binds` read-only on top (mount point -> host folder),
    a minimal read-only /dev, a private /tmp, under the emulator where `arch` needs one, with exactly `environment`.

    `tmp`: a folder to bind as /tmp (an environment's ephemeral storage), a size in MB for a tmpfs of that size, or
    None for an unsized tmpfs. `isolate=False` keeps the caller's user and namespaces (for checking a freshly built
    root as root)."""
    cmd = [tool("bwrap")]
    if isolate:
        cmd += ["--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", HOSTNAME, "--cap-drop", "ALL"]
    # /dev: null, zero, full, random, urandom, tty, the fd links and pts, read-only: no shared memory (/dev/shm is an
    # empty read-only folder, so multiprocessing's queues fail as on Lambda)
    cmd += ["--ro-bind", str(root), "/", "--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"]
    if isinstance(tmp, Path):
        cmd += ["--bind", str(tmp), "/tmp"]
    else:
        cmd += [*(["--size", str(tmp * 1024 * 1024)] if tmp else []), "--perms", "1777", "--tmpfs", "/tmp"]
    cmd += ["--die-with-parent", "--new-session", "--clearenv", "--chdir", chdir]
    for key, value in (environment or {}).items():
        cmd += ["--setenv", key, value]
    for mount, source in (binds or {}).items():
        cmd += ["--ro-bind", str(source), mount]
    if not arch.emulator:
        return [*cmd, *argv]
    cmd += ["--ro-bind", tool(arch.emulator[0]), f"/{EMULATOR_MOUNT}"]
    return [*cmd, f"/{EMULATOR_MOUNT}", *arch.emulator[1:], *argv]


class _Starter(threading.Thread):
    """Starts sandboxes from one thread that lives as long as the process. bubblewrap's --die-with-parent asks the
    kernel to kill a sandbox when its parent dies, and the kernel takes "parent" to be the thread that started it: a
    sandbox started by a request's thread would die when that request ends. Started from here, sandboxes end with the
    process that started them, even when it is killed outright."""

    def __init__(self) -> None:
        super().__init__(name="sandbox-starter", daemon=True)
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            argv, options, answer, ready = self.requests.get()
            try:
                answer.append(subprocess.Popen(argv, **options))
            except BaseException as err:  # noqa: BLE001 - raised in the caller's thread
                answer.append(err)
            ready.set()

    def popen(self, argv: list[str], **options) -> subprocess.Popen:
        answer: list = []
        ready = threading.Event()
        self.requests.put((argv, options, answer, ready))
        ready.wait()
        if isinstance(answer[0], BaseException):
            raise answer[0]
        return answer[0]


_starter: _Starter | None = None
_starter_lock = threading.Lock()


def start_sandbox(argv: list[str], **options) -> subprocess.Popen:
    """subprocess.Popen(argv, **options) of a sandboxed() command, from the process's long-lived starter thread."""
    global _starter
    with _starter_lock:
        if _starter is None or not _starter.is_alive():
            _starter = _Starter()
    return _starter.popen(argv, **options)
