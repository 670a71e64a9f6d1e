"""Racing processes for the concurrency tests: n processes released together by one barrier."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any


def race(
    target: Callable[..., None],
    args_for: Callable[[int], tuple[Any, ...]],
    n: int,
    *,
    context: str = "spawn",
    preload: Sequence[str] = (),
    timeout: float = 300,
) -> list[Any]:
    """Run `target(*args_for(i), barrier, results)` in n processes; each puts one result on `results`.

    The barrier lets them start together. Returns the results in the order they arrived; every
    process must exit cleanly. `preload` names modules a forkserver imports once for all.
    """
    ctx = mp.get_context(context)
    if preload:
        ctx.set_forkserver_preload(list(preload))
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(i), barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out
