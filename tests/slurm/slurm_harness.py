"""Helpers for the tests and benchmarks that drive Snakemake through the local SLURM of
``tests/slurm/local_slurm.sh``: detection, bounded runs (SIGINT on timeout), sbatch-line and
sacct parsing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLURM_PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
LOCAL_PROFILE = REPO / "profiles" / "local"
MINI = REPO / "tests" / "slurm" / "mini" / "Snakefile"
HARNESS = REPO / "tests" / "slurm" / "local_slurm.sh"
ACCOUNT = "m0000"  # the harness creates m0000 (CPU) and m0000_g (GPU)
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def slurm_unavailable() -> str | None:
    """None when the local SLURM answers (controller, a usable node, accounting);
    otherwise the reason, for ``pytest.skip``."""
    for tool in ("sinfo", "scontrol", "sacct", "sbatch"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: run `{HARNESS.relative_to(REPO)} install && ... start`"

    def ok(*cmd: str) -> subprocess.CompletedProcess | None:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return None
        return p if p.returncode == 0 else None

    if ok("scontrol", "ping") is None:
        return f"slurmctld not answering (`scontrol ping`): run `{HARNESS.relative_to(REPO)} start`"
    p = ok("sinfo", "-h", "-o", "%T")
    states = p.stdout.split() if p else []
    if not any(s.startswith(("idle", "mix", "alloc")) for s in states):
        return f"no usable SLURM node (sinfo states: {states or 'none'})"
    if ok("sacct", "-n", "-X", "--starttime", "now-1minutes") is None:
        return "sacct fails (slurmdbd down?): the executor plugin would hang without it"
    return None


def slurm_env(**extra: str) -> dict[str, str]:
    """Environment for a SLURM run: the account the profiles expand, this venv first on PATH."""
    env = dict(os.environ)
    env["ROMANDIA_SLURM_ACCOUNT"] = ACCOUNT
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@dataclass
class Run:
    args: list[str]
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False

    def sbatch_calls(self) -> list[SbatchCall]:
        return parse_sbatch_calls(self.output)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-n:])


def run_snakemake(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    log: Path | None = None,
    on_start=None,
) -> Run:
    """Run ``python -m snakemake ARGS`` in CWD, bounded: on timeout SIGINT (snakemake then
    scancels its jobs), wait up to 60 s, then SIGKILL. Output goes to LOG (and is returned).
    ``on_start(proc, log_path)`` is called right after the start (e.g. to scancel mid-run)."""
    cmd = [*SNAKEMAKE, *args]
    log = log or (cwd / f"snakemake-{int(time.time() * 1000)}.log")
    t0 = time.monotonic()
    timed_out = False
    with open(log, "w") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            if on_start is not None:
                on_start(proc, log)
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            timed_out = True
            interrupt(proc, log)
        except BaseException:
            interrupt(proc, log)
            raise
    return Run(cmd, proc.returncode, log.read_text(), time.monotonic() - t0, timed_out)


def interrupt(proc: subprocess.Popen, log: Path) -> None:
    """SIGINT (snakemake then scancels what it tracks), 60 s grace, SIGKILL; then scancel
    whatever this run still has in SLURM (a SIGINT during submission leaves jobs behind)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    output = log.read_text()
    ids = [jid for jid, _ in submitted_jobs(output)]
    names = {c.flags["--job-name"] for c in parse_sbatch_calls(output) if "--job-name" in c.flags}
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
    for name in names:  # submitted but not yet reported (only visible with --verbose)
        subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)


# --------------------------------------------------------------------------- sbatch lines
@dataclass
class SbatchCall:
    """One ``sbatch call:`` line of ``snakemake --verbose`` (the part before --wrap)."""

    line: str
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def comment(self) -> str:
        return self.flags.get("--comment", "")

    @property
    def is_gpu(self) -> bool:
        return "--gpus" in self.flags or "gpu" in self.flags.get("--gres", "")


_VALUED = {"--job-name", "--output", "--comment", "-A", "-p", "-t", "-C", "--mem", "-D",
           "--mem-per-cpu", "--cluster", "--clusters"}


def parse_sbatch_calls(output: str) -> list[SbatchCall]:
    calls = []
    for line in output.splitlines():
        i = line.find("sbatch call: ")
        if i < 0:
            continue
        cmd = line[i + len("sbatch call: "):]
        cmd = cmd.split(" --wrap=", 1)[0].split(" /dev/stdin", 1)[0]
        toks = shlex.split(cmd)[1:]
        flags: dict[str, str] = {}
        j = 0
        while j < len(toks):
            t = toks[j]
            if "=" in t and t.startswith("--"):
                k, v = t.split("=", 1)
                flags[k] = v
            elif t in _VALUED and j + 1 < len(toks):
                flags[t] = toks[j + 1]
                j += 1
            else:
                flags[t] = ""
            j += 1
        calls.append(SbatchCall(cmd, flags))
    return calls


_SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)?\.?$")


def submitted_jobs(output: str) -> list[tuple[str, Path]]:
    """(SLURM job id, SLURM log path) for every submission in a snakemake run's output."""
    jobs = []
    for line in output.splitlines():
        m = _SUBMITTED.search(line.strip())
        if m:
            jobs.append((m.group(1), Path(m.group(2).rstrip(")."))))
    return jobs


_TARGET_JOBS = re.compile(r"--target-jobs (.*?) --")


def target_jobs_in_slurm_log(path: Path) -> list[str]:
    """The ``rule:wildcards`` jobs one SLURM job ran, read from its kept SLURM log (the
    in-job snakemake's command line)."""
    for line in path.read_text(errors="replace").splitlines():
        if "Command:" in line and "--target-jobs" in line:
            m = _TARGET_JOBS.search(line)
            if m:
                return shlex.split(m.group(1))
    return []


# --------------------------------------------------------------------------- sacct
SACCT_FIELDS = ("JobID", "JobName", "Account", "QOS", "Constraints", "AllocTRES", "State",
                "ExitCode", "Comment")


def sacct(job_ids: list[str] | None = None, name: str | None = None) -> list[dict[str, str]]:
    """Allocation-level sacct rows (``-X``) for job ids or a job name (the run uuid)."""
    cmd = ["sacct", "-X", "-n", "--parsable2", "--starttime", "now-1days",
           "-o", ",".join(SACCT_FIELDS)]
    if job_ids:
        cmd += ["-j", ",".join(job_ids)]
    if name:
        cmd += ["--name", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    return [dict(zip(SACCT_FIELDS, line.split("|"), strict=False)) for line in out.splitlines() if line]


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def squeue_jobs(name: str) -> list[dict[str, str]]:
    """Jobs of one run (job name = run uuid) as seen by squeue: id, state, comment."""
    out = subprocess.run(
        ["squeue", "-h", "--name", name, "-o", "%i|%T|%k"],
        capture_output=True, text=True, timeout=15,
    ).stdout
    return [dict(zip(("JobID", "State", "Comment"), ln.split("|"), strict=False)) for ln in out.splitlines()]


# --------------------------------------------------------------------------- one allocation
@dataclass
class AllocationRun(Run):
    """A Snakemake run inside one sbatch allocation: its output is the allocation's log."""

    job_id: str = ""
    state: str = ""


#: Snakemake's "Elapsed time: H:MM:SS.ffffff" at the end of a run.
_ELAPSED = re.compile(r"Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


def snakemake_elapsed(output: str) -> float:
    m = _ELAPSED.search(output)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else float("nan")


def run_in_allocation(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    sbatch_flags: list[str] | None = None,
    timeout: float = 420,
) -> AllocationRun:
    """``sbatch [FLAGS] --wrap "python -m snakemake ARGS"`` from CWD, as a user runs the whole
    workflow inside one allocation (profiles/slurm/README.md, "One allocation"); waits until
    SLURM says the job ended (scancel on timeout). Default flags: one GPU on the harness's GPU
    account, 2 CPUs, 2 GB, 5 min."""
    flags = sbatch_flags or ["-A", f"{ACCOUNT}_g", "-C", "gpu", "--qos=shared", "--gpus=1",
                             "-c", "2", "--mem", "2000", "-t", "5"]
    log = cwd / f"allocation-{int(time.time() * 1000)}.log"
    cmd = ["sbatch", "--parsable", *flags, "-o", str(log), "--wrap",
           shlex.join([*SNAKEMAKE, *args])]
    t0 = time.monotonic()
    job_id = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True,
                            timeout=30).stdout.strip().split(";")[0]

    def ended():
        rows = sacct([job_id])
        return rows[0] if rows and rows[0]["State"] not in ("PENDING", "RUNNING", "COMPLETING") else None

    try:
        row = wait_for(ended, timeout=timeout, interval=0.5, what=f"allocation job {job_id}")
    except TimeoutError:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)
        return AllocationRun(cmd, 124, log.read_text() if log.exists() else "", time.monotonic() - t0,
                             timed_out=True, job_id=job_id)
    seconds = time.monotonic() - t0
    output = log.read_text() if log.exists() else ""
    rc = 0 if row["State"] == "COMPLETED" else int(row["ExitCode"].split(":")[0] or 1) or 1
    return AllocationRun(cmd, rc, output, seconds, job_id=job_id, state=row["State"])


def sacct_elapsed(job_id: str) -> float:
    """A job's elapsed seconds from start to end (sacct ``ElapsedRaw``: whole seconds)."""
    out = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-j", job_id, "-o", "ElapsedRaw"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    return float(out[0]) if out else float("nan")
