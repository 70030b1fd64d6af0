"""Options several commands share, declared once so their names and help read the same everywhere."""

from typing import Annotated, Optional

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AllowPickle = Annotated[bool, typer.Option(help="Allow loading pickle weights.")]
TrustRemoteCode = Annotated[bool, typer.Option(help="Let a checkpoint run its own Python code (auto_map in config.json); only for sources you trust.")]

# Distributed training, as torchrun names it; the same five on every node but --node-rank.
Nproc = Annotated[int, typer.Option("--nproc", help="Processes on this machine, one per GPU (DDP through torchrun); --batch-size stays the global batch.")]
Nnodes = Annotated[int, typer.Option("--nnodes", help="Machines taking part, each running this command.")]
NodeRank = Annotated[int, typer.Option("--node-rank", help="This machine's number, 0 to --nnodes minus 1; node 0 logs to MLflow.")]
MasterAddr = Annotated[Optional[str], typer.Option("--master-addr", help="Node 0's address, the same on every node.")]
MasterPort = Annotated[Optional[int], typer.Option("--master-port", help="A free port on node 0 (default: 29500 across machines, any free one on one).")]


def launch(nproc: int, nnodes: int, node_rank: int, master_addr: Optional[str], master_port: Optional[int]):
    """The torchrun layout the options describe (a `zoo_core.distributed.Launch`, imported only when needed)."""
    from zoo_core.distributed import Launch

    return Launch(nproc, nnodes, node_rank, master_addr, master_port)
