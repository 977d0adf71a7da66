"""``--scheduler`` on a 2-worker ``LocalCluster`` (processes, 1 thread each): the same table and the same logs as
a local run, also when a worker is killed mid-run (its shard is recomputed elsewhere)."""
from __future__ import annotations

import csv
import os
import signal
import threading
import time

import h5py
import numpy as np
import pytest

from bittrue.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread; they share this process's Numba cache (no JIT on the workers)."""
    from bittrue.dist import worker_env

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env=worker_env(), silence_logs=50) as c:
        yield c


@pytest.fixture(scope="module")
def hw(tmp_path_factory):
    p = tmp_path_factory.mktemp("hw") / "hw.toml"
    p.write_text("[tile]\ncalibration_samples = 16\n")  # a fast compile; everything else the defaults
    return str(p)


def _rows(path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_sweep_on_cluster_gives_the_local_table(tmp_path, cluster, hw, capsys):
    from bittrue.sweep import TIMING_COLUMNS

    cmd = ["sweep", "--set", "tile.adc_bits=4,6,8", "--drift-time", "1s,1d", "--program-seeds", "0-2",
           "--limit", "6", "--timesteps", "2", "--hardware", hw, "-q"]
    assert main([*cmd, "-o", str(tmp_path / "local.csv")]) == 0
    assert main([*cmd, "-o", str(tmp_path / "dist.csv"), "--scheduler", cluster.scheduler_address,
                 "--shard-size", "4"]) == 0
    a, b = _rows(tmp_path / "local.csv"), _rows(tmp_path / "dist.csv")
    assert len(a) == 18 and list(a[0]) == list(b[0])
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k not in TIMING_COLUMNS} == \
               {k: v for k, v in y.items() if k not in TIMING_COLUMNS}
    assert len({r["config_hash"] for r in a}) == 3 and len({r["energy_nJ"] for r in a}) > 3


def _datasets(path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


INFER = ["infer", "--limit", "24", "--timesteps", "2", "--batch-size", "4", "--log-signals", "spikes,adc,ssa",
         "--json", "-q"]


@pytest.fixture(scope="module")
def local_log(tmp_path_factory, hw):
    p = tmp_path_factory.mktemp("local") / "run.h5"
    assert main([*INFER, "--hardware", hw, "--log", str(p)]) == 0
    return p


def _same_logs(a, b) -> None:
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db) and len(da) > 20
    for k in da:
        assert da[k].dtype == db[k].dtype and np.array_equal(da[k], db[k]), k


def test_infer_on_cluster_gives_the_local_log(tmp_path, cluster, hw, local_log, capsys):
    capsys.readouterr()
    p = tmp_path / "run.h5"
    assert main([*INFER, "--hardware", hw, "--log", str(p), "--scheduler", cluster.scheduler_address,
                 "--shard-size", "8"]) == 0
    _same_logs(local_log, p)


def _infer_while_killing(addr: str, hw: str, log, victims) -> tuple[int, list[int]]:
    """Run the cluster ``infer`` of :data:`INFER` to ``log`` while a thread polls the cluster and SIGKILLs the
    workers that ``victims(client)`` names (once, the first time it names any); return (exit code, killed pids).
    The thread waits for both workers (a worker killed by an earlier test restarts) before the run starts."""
    killed: list[int] = []
    stop, ready = threading.Event(), threading.Event()

    def killer():
        with distributed.Client(addr, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
            pids = c.run(os.getpid)
            ready.set()
            while not stop.is_set():
                ws = victims(c)
                if not ws <= set(pids):  # a restarted worker: learn its pid
                    pids = c.run(os.getpid)
                if ws and ws <= set(pids):
                    for w in ws:
                        os.kill(pids[w], signal.SIGKILL)
                        killed.append(pids[w])
                    return
                time.sleep(0.01)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    assert ready.wait(60), "the killer could not connect"
    try:
        rc = main([*INFER, "--hardware", hw, "--log", str(log), "--scheduler", addr, "--shard-size", "4"])
    finally:
        stop.set()
        th.join(30)
    return rc, killed


def _running_shard(c) -> set:
    return {w for w, keys in c.processing().items() if any("run_shard" in str(k) for k in keys)}


def test_worker_killed_mid_run_loses_nothing(tmp_path, cluster, hw, local_log):
    """SIGKILL one worker while it runs a shard: the shard is recomputed and the log still equals the local one."""
    rc, killed = _infer_while_killing(cluster.scheduler_address, hw, tmp_path / "run.h5",
                                      lambda c: set(sorted(_running_shard(c))[:1]))
    assert killed, "no worker was killed while running a shard"
    with pytest.raises(ProcessLookupError):  # the killed worker is gone ...
        os.kill(killed[0], 0)
    assert rc == 0  # ... and the run still finished, with the local run's datasets
    _same_logs(local_log, tmp_path / "run.h5")


def test_shared_chip_lost_with_its_workers_is_sent_again(tmp_path, cluster, hw, local_log):
    """SIGKILL every worker that holds the scattered chip while a shard runs: the scheduler cannot recompute
    scattered data, so the shards that need it come back cancelled; the client sends the chip again, resubmits
    them, and the log still equals the local one."""
    def chip_holders(c) -> set:
        if not _running_shard(c):
            return set()
        return {w for k, ws in c.who_has().items() if str(k).startswith("Chip-") for w in ws}

    rc, killed = _infer_while_killing(cluster.scheduler_address, hw, tmp_path / "run.h5", chip_holders)
    assert killed, "the chip's workers were not killed while a shard ran"
    assert rc == 0
    _same_logs(local_log, tmp_path / "run.h5")


def test_task_that_kills_its_workers_is_one_error_line():
    """A task whose workers keep dying ends the run with DistError (one line, exit 2 in the CLI), not a
    ``KilledWorker`` traceback.  Its own cluster: one worker, and the scheduler gives up after the first death."""
    import dask

    from bittrue.dist import DaskExecutor, DistError, worker_env

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     env=worker_env(), silence_logs=50) as c:
        ex = DaskExecutor(c.scheduler_address)
        try:
            with pytest.raises(DistError, match="the cluster gave up on a task") as e:
                list(ex.run([(0, os._exit, (3,), {})]))
            assert "\n" not in str(e.value)
        finally:
            ex.close()


def test_scheduler_without_workers_is_one_error_line(monkeypatch, capsys):
    """A scheduler with no worker: ``infer --scheduler`` waits ``WORKER_WAIT_S`` for one, then one line, exit 2."""
    from bittrue.dist import DaskExecutor

    monkeypatch.setattr(DaskExecutor, "WORKER_WAIT_S", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0", silence_logs=50) as c:
        capsys.readouterr()
        rc = main(["infer", "--limit", "8", "--timesteps", "2", "--scheduler", c.scheduler_address, "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "no running worker (waited 1 s)" in err[0]
