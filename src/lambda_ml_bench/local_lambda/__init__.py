"""The local Lambda: Lambda's API on 127.0.0.1 (api, service) -> pools and concurrency (pools) -> one execution
environment's life (environment), whose runtime, the real runtime client in the sandbox, pulls its events from the
Runtime API the service serves it (runtime_api)."""
