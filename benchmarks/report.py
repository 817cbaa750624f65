"""Machine facts and markdown/JSON output shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def versions(*packages: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_facts(*packages: str) -> dict:
    """CPU, cores, load (1/5/15 min) and library versions, taken now."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average": load_average(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **versions(*packages)}


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A markdown table: ``columns`` is [(key, header)]; floats get 3 significant decimals."""
    def cell(value) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(h for _, h in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def facts_block(start: dict, end: dict) -> str:
    keys = [k for k in start if k not in ("time", "load_average")]
    lines = [f"- {k}: {start[k]}" for k in keys]
    lines.append(f"- load average (1/5/15 min) at start: {start['load_average']} "
                 f"({start['time']}); at end: {end['load_average']} ({end['time']})")
    return "\n".join(lines)


def write(path: str | Path, markdown: str, data: dict) -> None:
    """``path`` gets the markdown, ``path`` with ``.json`` the raw numbers."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown)
    path.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str))
    print(f"wrote {path} and {path.with_suffix('.json')}", flush=True)
