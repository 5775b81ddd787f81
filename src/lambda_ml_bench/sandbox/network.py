"""An environment's own network: a namespace with only loopback, where its runtime finds the Runtime API.

On Lambda each environment's Runtime API is private to its microVM. Here the service makes a network namespace per
environment (`Namespace`: a short-lived thread unshares its network, brings loopback up, opens the Runtime API's
listening socket on Lambda's own address, 127.0.0.1:9001, keeps a descriptor of the namespace and ends). The
runtime's process enters that namespace before it executes (`enter`, in the child), so function code reaches
neither another environment, nor the service's API, nor any service on the host's loopback, and there is no route
out. The service serves the Runtime API on the socket it made: a socket stays in the namespace it was made in, so
the service needs no way in and no other process has one. Making and entering a namespace takes CAP_SYS_ADMIN in the
service's own user namespace, which an environment's processes (uid 993, no capabilities, a user namespace of their
own) never have.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import threading

RUNTIME_API = ("127.0.0.1", 9001)  # inside its namespace every environment uses Lambda's own address
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class NetworkError(OSError):
    """An environment's network namespace could not be made or entered."""


def can_isolate() -> str:
    """Why network namespaces cannot be made here, or "" when they can (making and entering one needs root)."""
    if not hasattr(os, "unshare") or not hasattr(os, "setns"):
        return "this Python has no os.unshare/os.setns"
    if os.geteuid() != 0:
        return "making and entering network namespaces needs root"
    return ""


def listener(address: tuple[str, int]) -> socket.socket:
    """A listening TCP socket on `address` in the calling thread's network."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(8)
    except BaseException:
        sock.close()
        raise
    return sock


class Namespace:
    """A new network namespace with only loopback (up), and the Runtime API's listening socket in it."""

    def __init__(self) -> None:
        made: list = []

        def make() -> None:  # a thread of its own: unshare changes only the calling thread, which then ends
            try:
                os.unshare(os.CLONE_NEWNET)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    request = struct.pack("16sH22x", b"lo", 0)
                    flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
                    fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))
                made.append(os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
                made.append(listener(RUNTIME_API))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                made.append(err)

        thread = threading.Thread(target=make, name="netns")
        thread.start()
        thread.join()
        failed = [m for m in made if isinstance(m, BaseException)]
        if failed:
            if made and isinstance(made[0], int):
                os.close(made[0])
            raise NetworkError(f"cannot make an environment's network namespace: {failed[0]}") from failed[0]
        self.fd: int | None = made[0]
        self.listener: socket.socket = made[1]

    def enter(self) -> None:
        """In the runtime's process before it executes: into this namespace."""
        os.setns(self.fd, os.CLONE_NEWNET)

    def close(self) -> None:
        """Its descriptor and its listening socket (closed already when the Runtime API served on it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.listener.close()
