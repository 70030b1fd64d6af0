"""One job over several processes, GPUs or nodes: torchrun starts the worker module it is given, the Trainer runs DDP.

The command the user typed checks the recipe first (bad input fails before any process
starts), writes it for the workers and launches them through `torch.distributed.run`, the
code behind `torchrun`; each worker hands the job to the function its module passes to `work`
(zoo_core.training.launch), so this module knows how processes meet, not what they train. The Trainer shards the data across the workers. Only rank 0 talks to
MLflow and writes the model; it hands its run id to the others so that every process
checkpoints into the same run folder, and its results back to the command that launched it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core import settings
from zoo_core.errors import RecipeError, ZooError

WORKER_ERROR = "error-rank-{rank}.txt"
RESULTS = "results.json"


class DistributedError(ZooError):
    """The workers of a distributed run failed."""


@dataclass(frozen=True)
class Launch:
    """Where this node's processes sit in the job, as torchrun's flags say it."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    @property
    def distributed(self) -> bool:
        """Any launch flag given (0 processes, a rank without nodes...) goes through check(), which names it."""
        return self != Launch()

    def check(self, batch_size: int | None) -> None:
        if self.nnodes == 1 and self.node_rank != 0:
            raise RecipeError(f"--node-rank {self.node_rank} is a machine of a multi-node run, but --nnodes is 1", f"pass --nnodes N (more than {self.node_rank}) on every machine, or drop --node-rank")
        if self.world_size == 1 and (self.master_addr or self.master_port):
            raise RecipeError("--master-addr and --master-port meet the processes of a distributed run; this one has a single process", "add --nproc N (processes here) or --nnodes N (machines), or drop them")
        if self.master_port is not None and not 0 < self.master_port < 65536:
            raise RecipeError(f"--master-port {self.master_port} is not a port", "pass a free port from 1024 to 65535 (the same on every node)")
        if self.nproc < 1:
            raise RecipeError(f"--nproc {self.nproc} starts no process", "pass --nproc 1 or more (one per GPU)")
        if self.nnodes < 1:
            raise RecipeError(f"--nnodes {self.nnodes} is no machine at all", "pass --nnodes 1 or more")
        if not 0 <= self.node_rank < self.nnodes:
            raise RecipeError(f"--node-rank {self.node_rank} is not one of the {self.nnodes} nodes", f"pass --node-rank from 0 to {self.nnodes - 1}, a different one on each machine")
        if self.nnodes > 1 and self.master_addr is None:
            raise RecipeError(f"--nnodes {self.nnodes} needs the address of node 0", "pass --master-addr HOST (node 0's address, the same on every node) and --master-port PORT")
        if batch_size is not None and batch_size % self.world_size:
            fits = batch_size - batch_size % self.world_size or self.world_size
            raise RecipeError(
                f"--batch-size {batch_size} does not split evenly over {self.world_size} processes",
                f"pass --batch-size {fits} or {fits + self.world_size} (the global batch; each process takes an equal share)",
            )

    def torchrun_args(self, job: Path, worker: str) -> list[str]:
        args = [f"--nproc-per-node={self.nproc}", f"--nnodes={self.nnodes}", f"--node-rank={self.node_rank}"]
        if self.master_addr is not None:
            args.append(f"--master-addr={self.master_addr}")
        if self.master_port is not None:  # otherwise one node finds a free port itself
            args.append(f"--master-port={self.master_port}")
        return [*args, "--module", worker, str(job)]


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Rank 0: the one process that logs to MLflow, writes the model and reports."""
    return rank() == 0


def share(value: Any) -> Any:
    """Rank 0's `value`, in every process (the others pass None)."""
    if world_size() == 1:
        return value
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())  # the process group the Trainer starts: gloo on CPUs, NCCL on GPUs
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def launch(job: dict[str, Any], where: Launch, report: Callable[[str], None], worker: str) -> dict[str, Any] | None:
    """Run `job` on this node's share of the processes, each `python -m worker JOB_FILE`; rank 0's results
    (None on the other nodes)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    for name in [name for name in logging.root.manager.loggerDict if name.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # torchrun's reports would bury the worker's one line
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // where.nproc)))  # the cores, shared out
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # DDP's C++ advice on unused parameters, once per process
    scratch = settings.zoo_home() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="distributed-", dir=scratch) as folder:
        job_file = Path(folder) / "job.json"
        job_file.write_text(json.dumps({**job, "folder": folder}))
        report(f"launching {where.nproc} process{'es' * (where.nproc > 1)} on this node, {where.world_size} in all (torchrun)")
        if where.nnodes > 1:  # torchrun waits in C++ for the other nodes, deaf to Ctrl-C until they come
            report(f"waiting for all {where.nnodes} nodes at {where.master_addr}:{where.master_port or 29500}; to stop waiting: kill {os.getpid()}")
        try:
            run(parse_args(where.torchrun_args(job_file, worker)))
        except ChildFailedError as exc:
            raise _worker_error(Path(folder)) or _worker_death(exc) from None
        except SignalException:  # Ctrl-C: torchrun stopped the workers; rank 0 says how to resume
            raise _worker_error(Path(folder)) or KeyboardInterrupt() from None
        results = Path(folder) / RESULTS
        return json.loads(results.read_text()) if results.is_file() else None


def _worker_error(folder: Path) -> ZooError | None:
    """The first worker's own one-line error, if one wrote it."""
    lines = sorted(folder.glob(WORKER_ERROR.format(rank="*")))
    if not lines:
        return None
    code, _, message = lines[0].read_text().partition(" ")
    error = ZooError(message)
    error.exit_code = int(code)
    return error


def _worker_death(exc: Any) -> ZooError:
    """Which way a worker died that said nothing itself."""
    first = next(iter(exc.failures.values()), None)
    how = f"exit code {first.exitcode}" if first is not None else "no exit code"
    return DistributedError(f"a worker of the distributed run died ({how}); its output is above", "fix what it names; a run that checkpointed continues with --resume RUN_ID and the same --nproc")


def work(job_file: Path, run_job: Callable[[dict[str, Any], Any, Any, Callable[[str], None]], Any]) -> int:
    """One worker: its share of the job, through `run_job(job, catalog, plugins, report)`; rank 0 writes
    the results for the launching command."""
    from zoo_core.catalog import load_catalog
    from zoo_core.plugins import load_plugins

    job = json.loads(job_file.read_text())
    folder = Path(job["folder"])
    if job.get("trust_remote_code"):
        settings.allow_remote_code()
    report: Callable[[str], None] = (lambda line: print(line, file=sys.stderr)) if is_main() else (lambda line: None)
    try:
        plugins = load_plugins()
        results = run_job(job, load_catalog(plugins.catalog_folders), plugins, report)
    except ZooError as exc:
        if settings.debug():
            raise
        (folder / WORKER_ERROR.format(rank=f"{rank():05d}")).write_text(f"{exc.exit_code} {exc}")
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C reaches every worker; the launching command says it stopped
        return 130
    if is_main():
        staged = folder / f"{RESULTS}.partial"
        staged.write_text(json.dumps(results))
        staged.rename(folder / RESULTS)
    return 0
