"""romandia.worker: a job handed to the worker runs in its own forked process with the
client's cwd, environment, arguments and file descriptors; its exit status comes back; a
killed client kills its job; no worker means the job runs where it is."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from romandia import worker

SRC = str(Path(__file__).resolve().parents[1] / "src")

JOB = textwrap.dedent("""
    import os, sys, time
    from types import SimpleNamespace
    from romandia.worker import delegate

    client = os.getpid()
    delegate(SimpleNamespace(threads=int(os.environ.get("JOB_THREADS", "1")),
                             resources=SimpleNamespace(gpu=int(os.environ.get("JOB_GPU", "0")))))
    print(f"pid={os.getpid()} cwd={os.getcwd()} arg={sys.argv[1]} var={os.environ.get('JOB_VAR')} "
          f"worker_env={os.environ.get('ROMANDIA_WORKER', '')!r}", flush=True)
    sys.stderr.write("to stderr\\n")
    if sys.argv[1] == "sleep":
        open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
        time.sleep(60)
    if sys.argv[1] == "raise":
        raise ValueError("a job's own exception")
    sys.exit(int(sys.argv[1]))
""")


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("worker")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    proc, path = worker.start(str(tmp / "worker.log"), env=env)
    env.update({worker.ENV_SOCKET: path, worker.ENV_PID: str(proc.pid)})
    (tmp / "job.py").write_text(JOB)
    yield tmp, env, proc, path
    worker.stop(proc, path)
    assert not os.path.exists(os.path.dirname(path))


def _job(tmp, env, arg, **extra):
    """The finished client process (``.pid``, ``.returncode``, ``.stdout``, ``.stderr``)."""
    proc = subprocess.Popen([sys.executable, str(tmp / "job.py"), arg], cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(env, **extra))
    proc.stdout, proc.stderr = proc.communicate(timeout=120)
    return proc


def _field(out, key):
    return next(w.split("=", 1)[1] for w in out.split() if w.startswith(key + "="))


@pytest.mark.parametrize("code", [0, 3])
def test_job_runs_forked_with_the_clients_context(running, code):
    tmp, env, proc, path = running
    res = _job(tmp, env, str(code), JOB_VAR="seen")
    assert res.returncode == code, res.stderr
    assert _field(res.stdout, "cwd") == str(tmp) and _field(res.stdout, "var") == "seen"
    assert _field(res.stdout, "arg") == str(code)
    assert "to stderr" in res.stderr
    pid = int(_field(res.stdout, "pid"))
    assert pid not in (proc.pid, res.pid)  # a fresh process per job: neither worker nor client
    assert _field(res.stdout, "worker_env") == "''"  # what the job starts runs on its own


def test_exception_gives_traceback_and_status_1(running):
    tmp, env, _, _ = running
    res = _job(tmp, env, "raise")
    assert res.returncode == 1
    assert "ValueError: a job's own exception" in res.stderr


def test_multithreaded_or_gpu_job_and_no_worker_run_in_place(running, tmp_path):
    tmp, env, proc, path = running
    for extra in ({"JOB_THREADS": "2"}, {"JOB_GPU": "1"}, {worker.ENV_SOCKET: ""},
                  {worker.ENV_SOCKET: str(tmp_path / "gone" / "socket")}):
        res = _job(tmp, env, "0", **extra)
        assert res.returncode == 0, res.stderr
        assert int(_field(res.stdout, "pid")) == res.pid  # ran in the client itself


def test_gpu_job_is_forked_only_when_worker_gpu_is_on(running):
    tmp, env, proc, _ = running
    res = _job(tmp, env, "0", JOB_GPU="1", **{worker.ENV_GPU: "1"})
    assert res.returncode == 0, res.stderr
    assert int(_field(res.stdout, "pid")) not in (proc.pid, res.pid)  # forked by the worker
    res = _job(tmp, env, "0", JOB_GPU="1")  # worker_gpu off (the default): runs in place
    assert int(_field(res.stdout, "pid")) == res.pid


def test_worker_with_cuda_initialised_refuses_gpu_jobs(tmp_path):
    """CUDA cannot be used in a child forked after the parent initialised it: a worker that
    holds a CUDA device file open (here a stand-in file under a test prefix, opened at its
    start by ``sitecustomize``) hands GPU jobs back; they run in their own process with their
    status and output intact, while CPU jobs are still forked."""
    fake = tmp_path / "fake"
    fake.mkdir()
    device = tmp_path / "nvidiactl"
    device.write_text("")
    (fake / "sitecustomize.py").write_text(f"_held = open({str(device)!r})  # as cuInit holds /dev/nvidiactl\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), SRC, os.environ.get("PYTHONPATH", "")]),
               ROMANDIA_WORKER_CUDA_DEVICES=str(tmp_path / "nvidia"))
    proc, path = worker.start(str(tmp_path / "worker.log"), env=env)
    try:
        env.update({worker.ENV_SOCKET: path, worker.ENV_PID: str(proc.pid), worker.ENV_GPU: "1"})
        (tmp_path / "job.py").write_text(JOB)
        res = _job(tmp_path, env, "3", JOB_GPU="1")
        assert res.returncode == 3, res.stderr
        assert int(_field(res.stdout, "pid")) == res.pid  # refused: ran in the client
        assert res.stdout.count("pid=") == 1 and res.stderr.count("to stderr") == 1
        res = _job(tmp_path, env, "0")
        assert int(_field(res.stdout, "pid")) not in (proc.pid, res.pid)  # CPU jobs still forked
    finally:
        worker.stop(proc, path)
    assert "CUDA is initialised in the worker" in (tmp_path / "worker.log").read_text()


def test_killed_client_kills_its_job(running, tmp_path):
    tmp, env, _, _ = running
    pidfile = tmp_path / "pid"
    client = subprocess.Popen([sys.executable, str(tmp / "job.py"), "sleep"], cwd=tmp,
                              env=dict(env, PIDFILE=str(pidfile)), stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not pidfile.exists() and time.time() < deadline:
        time.sleep(0.05)
    job = int(pidfile.read_text())
    assert job != client.pid
    client.send_signal(signal.SIGKILL)
    client.wait()
    deadline = time.time() + 10
    while _running(job) and time.time() < deadline:
        time.sleep(0.05)
    assert not _running(job)


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_worker_stops_when_its_snakemake_is_gone(tmp_path):
    """A killed Snakemake leaves no worker behind (the worker watches its parent)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {SRC!r})
            from romandia import worker
            proc, path = worker.start({str(tmp_path / 'w.log')!r})
            print(proc.pid, path, flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    pid, path = parent.stdout.readline().split()
    deadline = time.time() + 60
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(path)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while _running(int(pid)) and time.time() < deadline:
        time.sleep(0.1)
    assert not _running(int(pid))
    assert not os.path.exists(os.path.dirname(path))
