"""Where ``dl-workshop fit --scheduler`` computes: a Dask scheduler's address, or a LocalCluster.

``--scheduler local`` starts a ``LocalCluster`` of worker processes listening on 127.0.0.1 only,
closed (workers and all) when the command ends, also on an error or Ctrl-C; ``--scheduler
ADDRESS`` connects a ``distributed.Client`` to a running scheduler, giving up after
``--connect-timeout`` seconds with one line saying so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["dask_client", "require_dask"]

#: The scheduler value that starts a LocalCluster.
LOCAL = "local"

DASK_MISSING_MESSAGE = (
    "--scheduler needs Dask's DataFrames and distributed scheduler, which are not installed "
    "(no module {name!r}): pip install 'dl-workshop[dask]'"
)
CONNECT_MESSAGE = "cannot connect to the Dask scheduler at {address!r}: {reason}"


def require_dask() -> None:
    """Raise ``ImportError`` with :data:`DASK_MISSING_MESSAGE` unless Dask's DataFrames and
    distributed scheduler can be imported."""
    try:
        import dask.dataframe  # noqa: F401 - the files are read with it
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(DASK_MISSING_MESSAGE.format(name=exc.name)) from exc


@contextlib.contextmanager
def dask_client(scheduler: str, *, timeout: float, workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler`` (``"local"`` or an address), closed on exit.

    Args:
        scheduler: ``"local"`` for a new LocalCluster on 127.0.0.1, else a scheduler's
            address (``tcp://host:8786``).
        timeout: seconds to wait for the scheduler at an address.
        workers: worker processes of a LocalCluster (one thread each).

    Raises:
        ImportError: if ``dask[distributed]`` is not installed (:data:`DASK_MISSING_MESSAGE`).
        OSError: if no scheduler answers at the address within ``timeout``, or the address is
            malformed (:data:`CONNECT_MESSAGE`).

    Example:
        >>> with dask_client("tcp://127.0.0.1:1", timeout=0.5, workers=1):  # nothing listens
        ...     pass
        Traceback (most recent call last):
        ...
        OSError: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1': Timed out ...
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         host="127.0.0.1", dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OSError(CONNECT_MESSAGE.format(address=scheduler, reason=reason)) from exc
    with client:
        yield client
