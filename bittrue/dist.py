"""Work units and their execution, locally or on a ``dask.distributed`` cluster (the ``dist`` extra).

Work is split into *shards*: a contiguous range of samples of one chip (one sweep point and program seed, or the
one chip of ``infer``).  A shard's result depends only on the chip and the global sample ids (every LFSR seed and
every output-noise draw is keyed by the sample id, ``bittrue.run``), so results are the same bit for bit whatever
runs where, in which order, with how many workers or samples per shard.  The client merges shard results in shard
order (integer sums and concatenations), and a single writer on the client writes HDF5 logs.  A worker that dies
mid-shard loses nothing: the scheduler gives its shards to another worker, which recomputes them, and inputs the
client shared (model, tokens, chip) are sent again if the cluster loses them (:class:`DaskExecutor`).

Workers need the same bittrue installed; they do not need the model or data files (the client sends the model, the
tokens and, for ``infer``, the programmed chip).  Numba compiles the kernels once per cache directory: start workers
with ``NUMBA_CACHE_DIR`` pointing at a directory they share (or a warm per-machine one), see ``docs/sweep.md``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator

import numpy as np

#: Seconds to wait for a scheduler before giving up (``--scheduler``).
CONNECT_TIMEOUT_S = 10
INSTALL_HINT = "pip install 'bittrue[dist]'"


class DistError(ValueError):
    """Dask missing, the scheduler unreachable, or the cluster giving up on a task (one line, exit 2)."""


# ============================================================================ recording sink
class RecordingSink:
    """A sink that copies every signal it receives, to be replayed later into other sinks (in call order)."""

    def __init__(self, signals: Iterable[str]):
        self.signals = frozenset(signals)
        self.calls: list[tuple[str, int, np.ndarray]] = []

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        self.calls.append((path, int(t), np.array(data, copy=True)))


def replay(calls, sample_ids: np.ndarray, logits: np.ndarray, sink) -> None:
    """Feed recorded calls of one batch into ``sink`` as :meth:`bittrue.run.Runner.run_batch` would."""
    if hasattr(sink, "begin_batch"):
        sink.begin_batch(sample_ids)
    for path, t, data in calls:
        sink(path, t, data)
    if hasattr(sink, "end_batch"):
        sink.end_batch(logits)


class AdcSaturation:
    """Sink counting, per crossbar layer, ADC conversions and those at a rail (spec 4.6: -2^(b-1) or 2^(b-1)-1).

    """

    signals = frozenset({"adc"})

    def __init__(self, adc_bits: int):
        self.lo = -(1 << (adc_bits - 1))
        self.hi = (1 << (adc_bits - 1)) - 1
        self.counts: dict[str, list[int]] = {}

    def __call__(self, path: str, t: int, data: np.ndarray) -> None:
        layer, _, sig = path.rpartition("/")
        if sig != "adc_code":
            return
        d = np.asarray(data)
        c = self.counts.setdefault(layer, [0, 0])
        c[0] += int(np.count_nonzero((d == self.lo) | (d == self.hi)))
        c[1] += int(d.size)


# ============================================================================ one shard
_CHIPS: "OrderedDict[tuple, Any]" = OrderedDict()  # per process: recently built chips (sweep workers)
_IMAGES: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_SIZE = 4


def _cached(cache: OrderedDict, key: tuple, make: Callable[[], Any]) -> Any:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    val = make()
    cache[key] = val
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return val


@dataclasses.dataclass(frozen=True)
class ChipSpec:
    """What a worker needs to build a chip itself (a sweep point and program seed)."""

    model_sha256: str
    config_json: str
    device: str
    drift_time_s: float | None
    drift_compensation: bool | None
    program_seed: int


def build_chip(model, spec: ChipSpec):
    """compile (ADC calibration on training samples) + program; cached per process."""
    from .compile import compile_model
    from .config import HardwareConfig
    from .program import program
    from .workloads import calibration_tokens

    def image():
        cfg = HardwareConfig.from_json(spec.config_json)
        return compile_model(model, cfg, calibration_tokens(model.arch, cfg.tile.calibration_samples),
                             model_sha256=spec.model_sha256)

    img = _cached(_IMAGES, (spec.model_sha256, spec.config_json), image)
    return _cached(_CHIPS, dataclasses.astuple(spec),
                   lambda: program(img, spec.device, t_inference_s=spec.drift_time_s,
                                   drift_compensation=spec.drift_compensation, program_seed=spec.program_seed))


def run_shard(chip, x: np.ndarray, ids: np.ndarray, *, timesteps: int, batch_size: int,
              record: bool = False, signals: Iterable[str] = (), counts: bool = False,
              adc_saturation: bool = False) -> dict:
    """Run one shard; return its logits, and as asked the recorded signals per batch, activity counts, ADC rails.

    ``chip`` is a :class:`bittrue.program.Chip`.  Returns a dict: ``logits`` (int64), ``batches`` (with ``record``, per batch: sample ids, the calls of the
    ``signals`` groups, logits), ``counts`` (:meth:`ActivityCounts.to_dict`), ``adc`` (layer -> [at a rail, conversions]),
    ``run_s`` (wall seconds of the runs, not of the build).
    """
    import time

    from .energy import ActivityCounter, MultiSink
    from .run import Runner

    runner = Runner(chip, timesteps=timesteps)
    counter = ActivityCounter(chip.arch, chip.config, runner.T) if counts else None
    sat = AdcSaturation(chip.config.tile.adc_bits) if adc_saturation else None
    signals = frozenset(signals)
    out: dict[str, Any] = {"batches": []}
    logits = []
    t0 = time.perf_counter()
    for i in range(0, len(x), batch_size):
        j = min(len(x), i + batch_size)
        rec = RecordingSink(signals) if record else None
        sinks = [s for s in (rec, counter, sat) if s is not None]
        sink = MultiSink(*sinks) if sinks else None
        lg = runner.run_batch(x[i:j], ids[i:j], sink)
        logits.append(lg)
        if rec is not None:
            out["batches"].append((np.asarray(ids[i:j]), rec.calls, lg))
    out["run_s"] = time.perf_counter() - t0
    out["logits"] = np.concatenate(logits) if logits else np.zeros((0,), np.int64)
    if counter is not None:
        out["counts"] = counter.counts().to_dict()
    if sat is not None:
        out["adc"] = sat.counts
    return out


def merge_counts(parts: list[dict]) -> dict:
    """Sum :meth:`ActivityCounts.to_dict` dicts of shards (every counter is a sum over samples)."""
    def add(a, b):
        if isinstance(a, dict):
            return {k: add(a[k], b[k]) if k in b else a[k] for k in a} | {k: v for k, v in b.items() if k not in a}
        if isinstance(a, list):
            return [add(x, y) for x, y in zip(a, b)]
        if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            return int(a) + int(b)
        if a != b:
            raise ValueError(f"shards disagree on {a!r} / {b!r}")
        return a

    summed = ("samples", "sites", "tiles_cell_reads")
    out = dict(parts[0])
    for p in parts[1:]:
        if {k: v for k, v in p.items() if k not in summed} != {k: v for k, v in out.items() if k not in summed}:
            raise ValueError("shards of different runs (model, T or configuration) cannot be merged")
        for k in summed:
            out[k] = add(out[k], p[k])
    return out


# ============================================================================ executors
def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DistError(f"--scheduler needs dask.distributed: {INSTALL_HINT}") from None
    return distributed


def connect(address: str, timeout_s: float | None = None):
    """A ``distributed.Client`` on ``address``; :class:`DistError` (one line) when it cannot be reached."""
    distributed = _require_distributed()
    try:
        return distributed.Client(address, timeout=f"{timeout_s or CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise DistError(f"--scheduler {address}: cannot reach the scheduler ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})") from None


class LocalExecutor:
    """Runs tasks one after the other in this process (the default: no cluster).

    ``shuffle``: a seed to run the tasks in a permuted order (tests: results must not depend on the order).
    """

    def __init__(self, shuffle: int | None = None):
        self.shuffle = shuffle

    def share(self, obj):
        return obj

    def run(self, tasks: Iterable[tuple[Any, Callable, tuple, dict]]) -> Iterator[tuple[Any, Any]]:
        if self.shuffle is not None:
            tasks = list(tasks)
            tasks = [tasks[i] for i in np.random.default_rng(self.shuffle).permutation(len(tasks))]
        for key, fn, args, kwargs in tasks:
            yield key, fn(*args, **kwargs)

    def close(self) -> None:
        pass


class _Shared:
    """An object sent to the workers once (:meth:`DaskExecutor.share`) and the future that stands for it there."""

    __slots__ = ("obj", "future")

    def __init__(self, obj, future):
        self.obj, self.future = obj, future


class DaskExecutor:
    """Submits tasks to a ``dask.distributed`` cluster; yields (key, result) as they complete (any order).

    A task whose worker dies is recomputed by the scheduler (``retries``).  Shared inputs (:meth:`share`) are
    scattered data, which the scheduler cannot recompute: if the workers holding one die, the tasks that need it
    come back *cancelled*.  Such a task is resubmitted with the input sent again, at most :attr:`RESUBMITS`
    times; a task that errs (its own exception, or ``KilledWorker`` after the retries) stops the run.
    """

    #: How often one task is resubmitted after it came back cancelled (its shared inputs lost with a worker).
    RESUBMITS = 3
    #: Seconds to wait for a running worker before sending a shared input (workers starting or restarting).
    WORKER_WAIT_S = 60.0

    def __init__(self, address: str):
        self.client = connect(address)

    def _scatter(self, obj):
        try:
            self.client.wait_for_workers(1, timeout=self.WORKER_WAIT_S)
            return self.client.scatter(obj, broadcast=True, hash=False)
        except TimeoutError:
            raise DistError(f"the scheduler has no running worker (waited {self.WORKER_WAIT_S:g} s): start "
                            f"workers (dask worker ADDRESS) and run again") from None

    def share(self, obj):
        """Send ``obj`` (model, chip, tokens) to every worker once; tasks then take the returned handle."""
        return _Shared(obj, self._scatter(obj))

    def _submit(self, fn, args: tuple, kwargs: dict):
        """Submit ``fn(*args, **kwargs)`` with each shared handle replaced by its current future; return the
        task's future and the (handle, future) pairs it used."""
        used = {}

        def resolve(a):
            if isinstance(a, _Shared):
                used[id(a)] = (a, a.future)
                return a.future
            return a

        fut = self.client.submit(fn, *(resolve(a) for a in args), pure=False, retries=2,
                                 **{k: resolve(v) for k, v in kwargs.items()})
        return fut, list(used.values())

    def run(self, tasks):
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        pending = {}
        for key, fn, args, kwargs in tasks:
            fut, used = self._submit(fn, args, kwargs)
            pending[fut] = (key, fn, args, kwargs, used, 0)
        done = as_completed(list(pending), with_results=True, raise_errors=False)
        for f, res in done:
            key, fn, args, kwargs, used, n = pending.pop(f)
            if f.status == "finished":
                yield key, res
                f.release()
                continue
            if f.status == "error":
                _, exc, tb = res
                if isinstance(exc, KilledWorker):
                    raise DistError(f"the cluster gave up on a task: {str(exc).splitlines()[0]} (workers "
                                    f"died running it; check their memory and logs)") from None
                raise exc.with_traceback(tb)
            if n >= self.RESUBMITS:
                raise DistError(f"a task came back cancelled {n + 1} times: the cluster keeps losing its "
                                f"inputs (workers dying or leaving; check their logs)")
            for shared, fut in used:
                if shared.future is fut:  # not yet sent again by another cancelled task
                    shared.future = self._scatter(shared.obj)
            fut, used = self._submit(fn, args, kwargs)
            pending[fut] = (key, fn, args, kwargs, used, n + 1)
            done.add(fut)

    def close(self) -> None:
        self.client.close()


def executor(scheduler: str | None):
    return DaskExecutor(scheduler) if scheduler else LocalExecutor()


def shards(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of ``size`` samples covering 0..n."""
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def remote_batches(ex, chip, x: np.ndarray, ids: np.ndarray, *, timesteps: int, batch_size: int,
                   shard_size: int, signals: Iterable[str], start: int = 0) -> Iterator[tuple[int, int, Callable]]:
    """``infer`` on a cluster: yield (i, j, run) per batch, in sample order, from ``start``.

    ``run(sink)`` replays the batch's recorded signals into ``sink`` (``begin_batch``, the signals in the runner's
    order, ``end_batch``) and returns its logits, as ``runner.run_batch(x[i:j], ids[i:j], sink)`` would.
    Shards are multiples of ``batch_size`` so the batches are those of a local run.
    """
    shard = max(batch_size, shard_size // batch_size * batch_size)
    chip_f = ex.share(chip)
    rng = [(a + start, b + start) for a, b in shards(len(x) - start, shard)]
    tasks = ((k, run_shard, (chip_f, x[a:b], ids[a:b]),
              {"timesteps": timesteps, "batch_size": batch_size, "record": True, "signals": frozenset(signals)})
             for k, (a, b) in enumerate(rng))
    pending: dict[int, dict] = {}
    nxt = 0
    for k, res in ex.run(tasks):
        pending[k] = res
        while nxt in pending:
            res = pending.pop(nxt)
            i = rng[nxt][0]
            for bids, calls, lg in res["batches"]:
                j = i + len(bids)
                yield i, j, (lambda sink, c=calls, b=bids, g=lg: _replay_or_logits(c, b, g, sink))
                i = j
            nxt += 1


def _replay_or_logits(calls, ids, logits, sink):
    if sink is not None:
        replay(calls, ids, logits, sink)
    return logits


def worker_env(cache_dir: str | None = None, threads: int = 1) -> dict[str, str]:
    """Environment for workers started by bittrue's tests or a user's ``LocalCluster``: a shared Numba cache,
    ``threads`` Numba threads, sleeping OpenMP workers."""
    import numba

    env = {"NUMBA_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    cache = cache_dir or os.environ.get("NUMBA_CACHE_DIR") or numba.config.CACHE_DIR
    if cache:
        env["NUMBA_CACHE_DIR"] = str(cache)
    return env


# ============================================================================ CLI hooks
def add_dist_options(p) -> None:
    """``--scheduler`` and ``--shard-size`` of ``infer`` and ``sweep``."""
    from .options import pos_int

    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a dask.distributed scheduler, e.g. tcp://host:8786 (the dist extra; "
                        "docs/sweep.md); results are identical to a local run")
    p.add_argument("--shard-size", type=pos_int, default=128,
                   help="samples per work unit on the cluster (default 128)")


def check_scheduler(args) -> None:
    """Before any work: the options allow a cluster run and the scheduler answers (else UsageError, exit 2)."""
    from .options import UsageError

    if getattr(args, "device", None) == "float":
        raise UsageError("--scheduler: the float SNN draws from one sequential generator; run it locally")
    try:
        connect(args.scheduler).close()
    except DistError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def infer_batches(args, runner, x: np.ndarray, ids: np.ndarray, start: int, sink):
    """The batches of ``infer`` from ``start``: (i, j, run) with ``run(sink) -> logits``, locally or on the cluster."""
    if not args.scheduler:
        yield ((i, min(len(x), i + args.batch_size),
                lambda s, i=i: runner.run_batch(x[i:i + args.batch_size], ids[i:i + args.batch_size], s))
               for i in range(start, len(x), args.batch_size))
        return
    from .options import UsageError

    try:
        ex = DaskExecutor(args.scheduler)
    except DistError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield remote_batches(ex, runner.chip, x, ids, timesteps=runner.T, batch_size=args.batch_size,
                             shard_size=args.shard_size, signals=sink.signals if sink is not None else (),
                             start=start)
    finally:
        ex.close()
