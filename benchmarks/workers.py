"""Each implementation in its own process: a worker per implementation, driven over a pipe.

Why processes: implementations must not share an interpreter. Torch's import changes NumPy's
allocation patterns, one implementation's garbage (a big graph) makes the next one's collector
slower, and the BLAS thread settings must be in place before NumPy loads
(:mod:`benchmarks.environment`). So the parent starts one worker per implementation, keeps them
all alive, and asks them in turn to run a few steps (rounds interleaved: a noisy neighbour slows
every implementation of a round alike); only one worker computes at a time.

The protocol is one JSON object per line. The worker is ``python -m benchmarks.workers KIND NAME
ARGS...``; it builds the task (``KIND`` is a key of :data:`TASKS`), answers ``{"ready": ...}`` or
``{"skipped": reason}`` (torch missing, say), then answers each request ``{"do": method, "args":
{...}}`` with the method's dict, or ``{"error": traceback}`` (``"environment"`` answers the
process id and its BLAS variables, to check the setup). Anything the task prints goes to
stderr, so stdout carries only the protocol.

Example:
    >>> with Worker("ops", "numpy", 4, 3) as worker:
    ...     reply = worker.call("run", steps=2)
    >>> len(reply["seconds"]), worker.skipped
    (2, None)
"""
import importlib
import json
import os
import statistics
import subprocess
import sys
import traceback

from .environment import KERNEL_OVERRIDES, ROOT, THREAD_VARIABLES, benchmark_environment, blas_description

#: Task kind -> "module:factory"; ``factory(name, *args)`` returns an object whose methods the
#: parent calls (``run(steps)`` for timed tasks), or raises ImportError when it cannot run here.
TASKS = {"charlm": "benchmarks.charlm:make_task",
         "ops": "benchmarks.op_overhead:make_task",
         "scaling": "benchmarks.scaling:make_task"}


class WorkerError(RuntimeError):
    """A worker process failed: the message names the task and holds the worker's traceback."""


class Worker:
    """A running worker process for ``kind`` / ``name`` (see the module docstring).

    ``skipped`` is None, or why the task cannot run in this environment; ``blas`` is what
    threadpoolctl saw inside the worker.
    """

    def __init__(self, kind, name, *args):
        self.label = f"{kind} {name} {' '.join(map(str, args))}".strip()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.workers", kind, name, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=benchmark_environment(),
            text=True)
        hello = self._receive()
        self.skipped = hello.get("skipped")
        self.blas = hello.get("blas")
        if self.skipped:
            self.close()

    def _receive(self):
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise WorkerError(f"worker '{self.label}' exited (code {code}) without answering; "
                              f"its stderr is above")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"worker '{self.label}' failed:\n{reply['error']}")
        return reply

    def call(self, method, **args):
        """Run ``method(**args)`` in the worker; returns its reply dict."""
        self.process.stdin.write(json.dumps({"do": method, "args": args}) + "\n")
        self.process.stdin.flush()
        return self._receive()

    def close(self):
        """Ask the worker to quit and wait for it."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"do": "quit"}) + "\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def start_workers(kind, names, *args, log=None):
    """Start one worker per name; returns ``(workers, skipped)`` (dict name -> Worker, name -> why).

    Example:
        >>> workers, skipped = start_workers("ops", ["numpy"], 4, 2)
        >>> sorted(workers), skipped
        (['numpy'], {})
        >>> close_all(workers)
    """
    workers, skipped = {}, {}
    try:
        for name in names:
            worker = Worker(kind, name, *args)
            if worker.skipped:
                skipped[name] = worker.skipped
                if log:
                    log(f"  {name}: skipped ({worker.skipped})")
            else:
                workers[name] = worker
    except BaseException:
        close_all(workers)
        raise
    return workers, skipped


def close_all(workers):
    """Close every worker of a dict name -> Worker."""
    for worker in workers.values():
        worker.close()


def interleave(workers, rounds, steps):
    """Rounds of ``run(steps)`` on every worker in turn (the first one rotating each round).

    Returns ``(medians, values)``: dict name -> list of the median seconds per step in each
    round, and dict name -> every value (loss) the steps returned, in order.

    Example:
        >>> workers, _ = start_workers("ops", ["numpy"], 4, 2)
        >>> medians, values = interleave(workers, rounds=2, steps=3)
        >>> close_all(workers)
        >>> len(medians["numpy"]), values["numpy"]        # the op chain returns no losses
        (2, [])
    """
    names = list(workers)
    medians = {name: [] for name in names}
    values = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            reply = workers[name].call("run", steps=steps)
            medians[name].append(statistics.median(reply["seconds"]))
            values[name].extend(reply.get("values", []))
    return medians, values


def ratios_to(medians, reference):
    """dict name -> median over rounds of (time / reference's time in the same round).

    Example:
        >>> ratios_to({"a": [2.0, 3.0, 2.0], "ref": [1.0, 1.0, 2.0]}, "ref")["a"]
        2.0
    """
    base = medians[reference]
    return {name: statistics.median(v / b for v, b in zip(values, base))
            for name, values in medians.items()}


def _serve(kind, name, args):
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr                       # a task's prints must not corrupt the protocol

    def send(message):
        protocol.write(json.dumps(message) + "\n")

    module_name, factory = TASKS[kind].split(":")
    try:
        task = getattr(importlib.import_module(module_name), factory)(name, *args)
    except ImportError as error:
        send({"skipped": f"{type(error).__name__}: {error}"})
        return 0
    except Exception:
        send({"error": traceback.format_exc()})
        return 1
    send({"ready": True, "blas": blas_description(), "pid": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        if request["do"] == "quit":
            break
        try:
            if request["do"] == "environment":             # what this process runs with
                send({"pid": os.getpid(), **{name: os.environ.get(name) for name in
                                             THREAD_VARIABLES + KERNEL_OVERRIDES}})
                continue
            send(getattr(task, request["do"])(**request.get("args", {})))
        except Exception:
            send({"error": traceback.format_exc()})
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1], sys.argv[2], sys.argv[3:]))
