"""The servers ``service_load.py`` drives: ``ecorec serve`` as shipped, or patched variants.

``Server`` starts one in a subprocess and waits for ``/readyz``; a variant the shipped service
lacks (``frozen``, ``serial``) runs this file as the subprocess (:func:`serve_child`), the
others are the shipped command with environment settings (``omp1``, ``unbounded``).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """``ecorec serve`` in a subprocess (or the same app patched: see :func:`serve_child`)."""

    def __init__(self, setup: dict[str, Any], port: int, variant: str) -> None:
        folder = Path(setup["folder"])
        common = ["--db", setup["db"], "--config", str(folder / "load.toml"), "--port", str(port)]
        if "frozen" in variant or "serial" in variant:
            flags = [f"--{f}" for f in ("frozen", "serial") if f in variant]
            cmd = [sys.executable, __file__, *flags, *common]
        else:
            cmd = [str(BIN / "ecorec"), "serve", *common]
        env = dict(os.environ)
        if "omp1" in variant:  # one intra-op thread per torch/faiss call: no oversubscription
            env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        if "unbounded" in variant:  # every request waits its turn: no light slate past capacity
            env.update(ECOREC_SERVICE__OVERLOAD_WAIT_MS="0")
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(folder / f"serve-{port}.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        started = time.perf_counter()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(folder / f'serve-{port}.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:  # not listening yet: loading its models
                pass
            time.sleep(0.5)
        self.ready_s = round(time.perf_counter() - started, 1)
        self.rss_mb = self.rss()

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def serve_child(argv: list[str]) -> None:
    """``ecorec serve`` with a change patched in for a measurement.

    ``--frozen``: ``gc.freeze()`` once the lifespan has loaded the models. ``--serial``: a lock
    around ``Pipeline.__call__`` (measured before the service took turns itself; the shipped
    service now runs one call at a time in arrival order, ``service.overload``).
    """
    import threading
    from contextlib import asynccontextmanager

    import uvicorn

    from ecorec.cli.common import config_for
    from ecorec.core.pipeline import Pipeline
    from ecorec.service import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--frozen", action="store_true")
    parser.add_argument("--serial", action="store_true")
    a = parser.parse_args(argv)
    if a.serial:
        call, lock = Pipeline.__call__, threading.Lock()

        def serial(self: Pipeline, request: Any) -> Any:
            with lock:
                return call(self, request)

        Pipeline.__call__ = serial  # type: ignore[method-assign]
    app = create_app(config_for(a.config, a.db))
    loaded = app.router.lifespan_context

    @asynccontextmanager
    async def frozen(app_: Any) -> Any:
        async with loaded(app_) as state:
            gc.collect()
            gc.freeze()
            yield state

    if a.frozen:
        app.router.lifespan_context = frozen
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    serve_child(sys.argv[1:])
