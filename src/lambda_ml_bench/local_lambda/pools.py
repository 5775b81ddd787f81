"""Functions, their versions and aliases, and which environment takes a request: warm reuse, cold starts up
to the function's concurrency limit (shared by its versions), throttling, and every environment (busy ones
too) tracked so that none outlives the service. Each environment is bound to one version's configuration."""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import UTC, datetime

from lambda_ml_bench.local_lambda import api, state
from lambda_ml_bench.local_lambda.api import too_many_requests
from lambda_ml_bench.local_lambda.environment import Environment
from lambda_ml_bench.local_lambda.functions import TAG_IDLE, FunctionSpec
from lambda_ml_bench.sandbox.allotment import Hierarchy


def _now() -> str:
    """LastModified as Lambda writes it: 2024-03-27T09:14:35.000+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Concurrency:
    """Concurrent executions as Lambda counts them: the account's, shared by every function, and a function's own,
    counted across all its versions and limited only when the function reserves some."""

    def __init__(self, limit: int | None, account: Concurrency | None = None) -> None:
        self.limit, self.account, self.busy = limit, account, 0
        self.lock = threading.Lock()

    def take(self) -> None:
        with self.lock:
            if self.limit is not None and self.busy >= self.limit:
                raise too_many_requests(api.RESERVED_LIMIT if self.account is not None else api.ACCOUNT_LIMIT)
            if self.account is not None:
                self.account.take()
            self.busy += 1

    def give(self) -> None:
        with self.lock:
            self.busy -= 1
            if self.account is not None:
                self.account.give()


class FunctionPool:
    """The execution environments of one function version: reused warm, started up to the function's limit."""

    def __init__(self, spec: FunctionSpec, concurrency: Concurrency, hierarchy: Hierarchy | None = None,
                 allotment_note: str = "", version: str = api.LATEST, idle_s: float | None = None) -> None:
        self.spec, self.hierarchy, self.version = spec, hierarchy, version
        self.idle_s = idle_s  # an environment idle this long is gone (checked when one is taken, and by the service)
        self.concurrency = concurrency  # the function's: shared by $LATEST and every version
        self.allotment_note = allotment_note
        self.idle: list[Environment] = []
        self.every: set[Environment] = set()
        self.lock = threading.Lock()
        self.revision_id, self.last_modified = str(uuid.uuid4()), _now()
        self.closed = False

    @property
    def busy(self) -> int:
        return self.concurrency.busy

    def configuration(self, listing: bool = False, qualifier: str | None = None) -> dict:
        return self.spec.configuration(self.spec.description(self.allotment_note), self.revision_id,
                                       self.last_modified, listing, self.version, qualifier)

    def tags(self) -> dict[str, str]:
        tags = self.spec.tags(allotted=self.hierarchy is not None)
        if self.idle_s is not None:
            tags[TAG_IDLE] = f"{self.idle_s:g}"
        return tags

    def acquire(self) -> Environment:
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.spec.name}: the service is stopping")
            self.concurrency.take()  # before an environment is taken: a throttle leaves the pool as it was
            while self.idle:
                env = self.idle.pop()  # the most recently used first
                if env.alive() and (self.idle_s is None or time.monotonic() - env.last_used < self.idle_s):
                    return env
                self._drop(env)
            env = Environment(self.spec, self.hierarchy, self.version)
            self.every.add(env)
        try:
            env.start()
            return env
        except BaseException:
            self.concurrency.give()
            with self.lock:
                self.every.discard(env)
            raise

    def _drop(self, env: Environment) -> None:
        env.stop()
        self.every.discard(env)

    def release(self, env: Environment) -> None:
        self.concurrency.give()
        with self.lock:
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

    def state(self) -> dict:
        """What the API configured: the settings, and the revision they are."""
        return {"settings": state.settings_of(self.spec), "revision_id": self.revision_id,
                "last_modified": self.last_modified}

    def restore(self, saved: dict) -> None:
        self.spec = dataclasses.replace(self.spec, **saved["settings"])
        self.revision_id, self.last_modified = saved["revision_id"], saved["last_modified"]

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


class Function:
    """One function: `$LATEST` and its published versions (each a pool of its own), and its aliases."""

    def __init__(self, spec: FunctionSpec, account: Concurrency, hierarchy: Hierarchy | None,
                 allotment_note: str, idle_s: float | None = None):
        self.name = spec.name
        self.hierarchy, self.allotment_note, self.idle_s = hierarchy, allotment_note, idle_s
        self.concurrency = Concurrency(spec.reserved_concurrency or None, account)
        self.latest = FunctionPool(spec, self.concurrency, hierarchy, allotment_note, api.LATEST, idle_s)
        self.versions: dict[str, FunctionPool] = {}
        self.aliases: dict[str, dict] = {}
        self.next_version = 1
        self.lock = threading.Lock()

    def pools(self) -> list[FunctionPool]:
        return [self.latest, *self.versions.values()]

    def state(self) -> dict:
        with self.lock:
            return {"latest": self.latest.state(), "next_version": self.next_version,
                    "versions": {v: pool.state() for v, pool in self.versions.items()},
                    "aliases": {name: dict(alias) for name, alias in self.aliases.items()}}

    def restore(self, saved: dict) -> None:
        """The configuration a previous service kept (state.py): $LATEST's settings, versions and aliases."""
        self.latest.restore(saved["latest"])
        for version, pool_state in saved["versions"].items():
            pool = FunctionPool(self.latest.spec, self.concurrency, self.hierarchy, self.allotment_note,
                                version, self.idle_s)
            pool.restore(pool_state)
            self.versions[version] = pool
        self.aliases = {name: dict(alias) for name, alias in saved["aliases"].items()}
        self.next_version = saved["next_version"]

    def pool(self, qualifier: str | None) -> FunctionPool:
        """The pool a qualifier names: $LATEST (or none), a version number, or an alias."""
        with self.lock:
            if qualifier in (None, api.LATEST):
                return self.latest
            if qualifier in self.versions:
                return self.versions[qualifier]
            if qualifier in self.aliases:
                target = self.aliases[qualifier]["FunctionVersion"]
                return self.latest if target == api.LATEST else self.versions[target]
        if not qualifier.isdigit():  # a name: an alias that does not exist
            raise api.alias_not_found(self.name, qualifier)
        raise api.not_found(self.name, qualifier)

    def publish(self) -> tuple[FunctionPool, bool]:
        """A version of $LATEST as it is now; the newest version again when nothing changed since it
        (test_publish_version_on_create, repeated_publish_response)."""
        with self.lock:
            newest = self.versions.get(str(self.next_version - 1))
            if newest is not None and newest.spec == self.latest.spec:
                return newest, False
            version = str(self.next_version)
            self.next_version += 1
            pool = FunctionPool(self.latest.spec, self.concurrency, self.hierarchy, self.allotment_note,
                                version, self.idle_s)
            self.versions[version] = pool
            return pool, True

    def alias_configuration(self, name: str) -> dict:
        alias = self.aliases[name]
        return {"AliasArn": api.function_arn(self.name, name), "Description": alias["Description"],
                "FunctionVersion": alias["FunctionVersion"], "Name": name, "RevisionId": alias["RevisionId"]}

    def put_alias(self, name: str, version: str | None, description: str | None, create: bool) -> dict:
        with self.lock:
            if create and name in self.aliases:
                raise api.ApiError(409, "ResourceConflictException",
                                   f"Alias already exists: {api.function_arn(self.name, name)}", "message")
            if not create and name not in self.aliases:
                raise api.alias_not_found(self.name, name)
            if version is not None and version not in self.versions and version != api.LATEST:
                raise api.ApiError(404, "ResourceNotFoundException",
                                   f"Function not found: {api.function_arn(self.name, version)}")
            alias = self.aliases.setdefault(name, {"Description": "", "FunctionVersion": version})
            if version is not None:
                alias["FunctionVersion"] = version
            if description is not None:
                alias["Description"] = description
            alias["RevisionId"] = str(uuid.uuid4())
        return self.alias_configuration(name)

    def delete_alias(self, name: str) -> None:
        with self.lock:
            if self.aliases.pop(name, None) is None:
                raise api.alias_not_found(self.name, name)

    def delete_version(self, version: str) -> None:
        """DeleteFunction with a version qualifier: its environments end with it."""
        with self.lock:
            if version == api.LATEST:
                raise api.invalid("$LATEST version cannot be deleted without deleting the function.")
            users = sorted(a for a, v in self.aliases.items() if v["FunctionVersion"] == version)
            if users:
                raise api.ApiError(409, "ResourceConflictException", "Unable to delete version because the "
                                   f"following aliases reference it: {users}", "message")
            pool = self.versions.pop(version, None)
        if pool is not None:
            pool.stop()

    def stop(self) -> None:
        for pool in self.pools():
            pool.stop()
