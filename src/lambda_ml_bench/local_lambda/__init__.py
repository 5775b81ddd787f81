"""A local Lambda: the real runtime client under the RIE, arm64 under QEMU, behind Lambda's API."""
