"""A chaos run of the local stack: traffic over the public APIs while processes are broken.

`run_chaos(options)` starts a stack of its own under its supervisor, registers clients and
operators, drives calls while it kills services, stops Kafka and restarts PostgreSQL, lets
everything settle, sends the digests, invoices the month and checks the invariants.
"""

from libs.devstack.chaos.plan import ChaosOptions
from libs.devstack.chaos.scenario import ChaosRun, run_chaos

__all__ = ["ChaosOptions", "ChaosRun", "run_chaos"]
