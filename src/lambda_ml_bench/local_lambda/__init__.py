"""The local Lambda: Lambda's API on 127.0.0.1 (api, service) -> pools and concurrency (pools) -> one execution
environment's life (environment), with the real runtime client under the RIE in the sandbox."""
