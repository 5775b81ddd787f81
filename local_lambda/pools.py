"""Which environment takes a request: warm reuse, cold starts up to a concurrency limit, throttling,
and every environment (busy ones too) tracked so that none outlives the service."""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from local_lambda.allotment import Hierarchy
from local_lambda.api import too_many_requests
from local_lambda.environment import Environment
from local_lambda.functions import FunctionSpec


def _now() -> str:
    """LastModified as Lambda writes it: 2024-03-27T09:14:35.000+0000."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class FunctionPool:
    """The execution environments of one function: reused warm, started up to a limit."""

    def __init__(self, spec: FunctionSpec, rie: Path, limit: int, hierarchy: Hierarchy | None = None,
                 allotment_note: str = "") -> None:
        self.spec, self.rie, self.hierarchy = spec, rie, hierarchy
        self.limit = spec.reserved_concurrency or limit
        self.allotment_note = allotment_note
        self.idle: list[Environment] = []
        self.every: set[Environment] = set()
        self.busy = 0
        self.lock = threading.Lock()
        self.revision_id, self.last_modified = str(uuid.uuid4()), _now()
        self.closed = False

    def configuration(self, listing: bool = False) -> dict:
        return self.spec.configuration(self.spec.description(self.allotment_note), self.revision_id,
                                       self.last_modified, listing)

    def acquire(self) -> Environment:
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.spec.name}: the service is stopping")
            while self.idle:
                env = self.idle.pop()
                if env.alive():
                    self.busy += 1
                    return env
                self._drop(env)
            if self.busy >= self.limit:
                raise too_many_requests()
            self.busy += 1
            env = Environment(self.spec, self.rie, self.hierarchy)
            self.every.add(env)
        try:
            env.start()
            return env
        except BaseException:
            with self.lock:
                self.busy -= 1
                self.every.discard(env)
            raise

    def _drop(self, env: Environment) -> None:
        env.stop()
        self.every.discard(env)

    def release(self, env: Environment) -> None:
        with self.lock:
            self.busy -= 1
            if env.alive() and env.spec == self.spec and not self.closed:
                self.idle.append(env)
                return
        self._drop(env)  # crashed, configured before an update, or stopping: the next request starts afresh

    def update(self, changes: dict) -> None:
        """UpdateFunctionConfiguration: new environments get the new settings; idle ones retire."""
        with self.lock:
            self.spec = dataclasses.replace(self.spec, **changes)
            self.revision_id, self.last_modified = str(uuid.uuid4()), _now()
            retired, self.idle = self.idle, []
        for env in retired:
            self._drop(env)

    def retire_idle(self, older_than_s: float) -> None:
        now = time.monotonic()
        with self.lock:
            retired = [env for env in self.idle if now - env.last_used >= older_than_s]
            self.idle = [env for env in self.idle if env not in retired]
        for env in retired:
            self._drop(env)

    def stop(self) -> None:
        """Every environment, busy ones included: their invocations end with the service."""
        with self.lock:
            self.closed = True
            everyone, self.idle = list(self.every), []
        for env in everyone:
            self._drop(env)
