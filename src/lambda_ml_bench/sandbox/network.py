"""An environment's own network: a namespace with only loopback, shared by its RIE and its runtime.

On Lambda each environment's Runtime API is private to its microVM. Here the RIE is started in a new network
namespace (`isolate`, run in the child before it executes the RIE), so its Runtime API and invoke port exist on that
namespace's loopback only: function code reaches neither another environment, nor the service's API, nor any
service on the host's loopback, and there is no route out. The service reaches the RIE by creating its socket inside
the namespace (`socket_in`: a short-lived thread enters the namespace, named by a descriptor taken when the RIE
started, makes the socket and leaves; the connection
is then an ordinary loopback connection, so the channel adds nothing to an invoke). Entering a namespace takes
CAP_SYS_ADMIN in the service's own user namespace, which an environment's processes (uid 993, no capabilities, a
user namespace of their own) never have: no other environment can open the channel.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import threading

# Inside its namespace every environment uses Lambda's own addresses: no port is shared with anything else.
RIE_ADDRESS = ("127.0.0.1", 8080)
RUNTIME_API = "127.0.0.1:9001"
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class NetworkError(OSError):
    """An environment's network namespace could not be made or entered (an OSError: the RIE's connection failed)."""


def can_isolate() -> str:
    """Why network namespaces cannot be made here, or "" when they can (entering one needs root)."""
    if not hasattr(os, "unshare") or not hasattr(os, "setns"):
        return "this Python has no os.unshare/os.setns"
    if os.geteuid() != 0:
        return "making and entering network namespaces needs root"
    return ""


def isolate() -> None:
    """In a child before exec: a network namespace of its own, its loopback up, nothing else in it."""
    os.unshare(os.CLONE_NEWNET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def namespace_of(pid: int) -> int:
    """A file descriptor of process `pid`'s network namespace: taken once, right after the process is started (its
    pid cannot be another's yet), it keeps naming that namespace whatever becomes of the pid."""
    try:
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise NetworkError(f"cannot open the network namespace of process {pid}: {err}") from err


def socket_in(namespace: int) -> socket.socket:
    """A TCP socket in the network namespace `namespace` (a descriptor from namespace_of; connect it as any other)."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter() -> None:  # a thread of its own: setns changes only the calling thread, which then ends
        try:
            os.setns(namespace, os.CLONE_NEWNET)
            made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            failed.append(err)

    thread = threading.Thread(target=enter, name="netns")
    thread.start()
    thread.join()
    if failed:
        raise NetworkError(f"cannot enter an environment's network namespace: {failed[0]}") from failed[0]
    return made[0]
