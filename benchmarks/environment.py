"""The benchmark processes' environment: one BLAS thread, OpenBLAS's own kernel, reported as seen.

Every implementation runs in a process started with :func:`benchmark_environment`, so all of them
use the same BLAS the same way:

* one thread for OpenBLAS, OpenMP, MKL and torch (set before NumPy or torch is imported): on a
  shared two-core machine extra threads only fight over the cores, and a ratio of one-thread
  times compares the implementations' own work;
* ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed, together: the first forces a kernel,
  the second the cache size that kernel's blocking is tuned for; with one and not the other the
  kernel is mistuned, with neither OpenBLAS detects the CPU itself (what a user gets).

:func:`blas_description` says which library, kernel and thread count threadpoolctl sees inside
the process, for the results' header.

Example:
    >>> env = benchmark_environment({"OPENBLAS_CORETYPE": "Prescott", "PATH": "/bin"})
    >>> env["OPENBLAS_NUM_THREADS"], "OPENBLAS_CORETYPE" in env
    ('1', False)
"""
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Thread-count variables of the BLAS and OpenMP runtimes NumPy and torch may load.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: OpenBLAS kernel overrides, removed together (see the module docstring).
KERNEL_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def benchmark_environment(base=None):
    """A copy of ``base`` (default ``os.environ``) for a benchmark process.

    One BLAS/OpenMP thread, no OpenBLAS kernel override, and this checkout first on PYTHONPATH
    (so the process imports this microtensor, not an installed one).

    Example:
        >>> benchmark_environment({})["OMP_NUM_THREADS"]
        '1'
    """
    env = dict(os.environ if base is None else base)
    for name in THREAD_VARIABLES:
        env[name] = "1"
    for name in KERNEL_OVERRIDES:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                       if p])
    return env


def blas_description():
    """What threadpoolctl sees in this process: ``"openblas 0.3.x, Haswell kernel, 1 thread"``.

    Example:
        >>> isinstance(blas_description(), str)
        True
    """
    try:
        import numpy  # noqa: F401 (loads the BLAS threadpoolctl inspects)
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl is not installed: pip install threadpoolctl)"
    parts = []
    for pool in threadpoolctl.threadpool_info():
        if pool.get("user_api") != "blas":
            continue
        kernel = pool.get("architecture") or "unknown"
        threads = pool.get("num_threads")
        parts.append(f"{pool.get('internal_api')} {pool.get('version')}, {kernel} kernel, "
                     f"{threads} thread{'s' if threads != 1 else ''}")
    return "; ".join(parts) or "no BLAS found by threadpoolctl"
