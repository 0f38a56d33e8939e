"""What every measurement receives: the running stack, the mode and where charts go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import DEFAULT_SEED
from bench.modes import Mode
from bench.stack import Stack


@dataclass
class Bench:
    """The stack of this benchmark, its mode, and figures later measurements reuse."""

    stack: Stack
    mode: Mode
    out_dir: Path
    seed: int = DEFAULT_SEED
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def charts_dir(self) -> Path:
        path = self.out_dir / "charts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def chart_link(self, path: Path) -> str:
        return str(path.relative_to(self.out_dir))
