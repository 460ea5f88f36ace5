"""Run folders: resolved config, metrics.csv, checkpoints and logs, every file written atomically (temp + rename)
so a killed run never leaves a half-written file behind."""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results should be as readable as any other file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint written by this project (tensors and plain containers only: no pickled code)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or corrupted files surface here
        raise RuntimeError(f"cannot read checkpoint {path}: it is corrupted or truncated ({exc})") from exc


@contextlib.contextmanager
def run_lock(run_dir: Path, wait_s: float):
    """Hold a run folder alone: an exclusive lock on ``.<folder>.lock`` beside it (it survives the folder being
    cleared; on NFS, Linux carries flock locks across hosts), released when the holder exits, however it exits.
    Another holder is waited for up to ``wait_s`` seconds, then it is an error naming that process."""
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f".{run_dir.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "an unknown process"
                    raise RuntimeError(f"{run_dir} is being trained by {holder} (lock {path}); stop that trainer or "
                                       f"wait for it, then run again") from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  .encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_resolved_config(run_dir: Path, cfg, extra: dict[str, Any]) -> None:
    payload = {"config": dataclasses.asdict(cfg), **extra}
    atomic_write_text(Path(run_dir) / "config.yaml", yaml.safe_dump(payload, sort_keys=False))


class MetricsTable:
    """progress.csv, then metrics.csv: one row per evaluation, rewritten whole (atomically) on every append; rows are
    kept in the resume checkpoint so a resumed run continues the same table."""

    def __init__(self, path: Path, columns: list[str], rows: list[dict] | None = None):
        self.path, self.columns, self.rows = Path(path), columns, list(rows or [])

    def append(self, row: dict) -> None:
        missing = set(self.columns) - set(row)
        if missing:
            raise KeyError(f"metrics row lacks columns {sorted(missing)}")
        self.rows.append({c: row[c] for c in self.columns})
        self.write()

    def write(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


def file_logger(run_dir: Path, name: str = "marlbench") -> logging.Logger:
    """A logger appending to run_dir/train.log; a fresh handler per call (the folder may have been recreated)."""
    logger = logging.getLogger(f"{name}.{Path(run_dir).resolve()}")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    handler = logging.FileHandler(Path(run_dir) / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def env_state_tensors(env) -> list[torch.Tensor]:
    """A batched env's full state (``get_state``) as tensors for a checkpoint (unsigned ints widened: torch has no
    uint32)."""
    return [torch.from_numpy(x.astype(np.int64) if x.dtype.kind == "u" else np.array(x)) for x in env.get_state()]


def restore_env_state(env, tensors: list[torch.Tensor]) -> None:
    env.set_state([x.numpy() for x in tensors])
