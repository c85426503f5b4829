"""up / down / status / reload for one project: image, container, supervisor injection.

Talks to the engine; decides nothing that plan.py can decide. Reports progress through a
`report(event, **fields)` callable; the CLI renders it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import os
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, List, Optional

from devbox import plan as planning
from devbox.errors import DevboxError, EngineError
from devbox.logs import LogStream
from devbox.supervisor import protocol

SUPERVISOR_SOURCE = Path(__file__).resolve().parent / "supervisor"
LAUNCHER = (
    "import runpy, sys\n"
    "sys.path.insert(0, %r)\n"
    "runpy.run_module('devbox.supervisor', run_name='__main__', alter_sys=True)\n"
) % planning.SUPERVISOR_ROOT
READY_TIMEOUT = 60.0

Report = Callable[..., None]


def _noop(event, **fields):
    pass


def supervisor_files():
    """(archive path, bytes, mode) of everything injected into a container under /opt/devbox."""
    root = planning.SUPERVISOR_ROOT.lstrip("/")
    yield f"{root}/devbox/__init__.py", b"", 0o644
    for path in sorted(SUPERVISOR_SOURCE.glob("*.py")):
        yield f"{root}/devbox/supervisor/{path.name}", path.read_bytes(), 0o644
    yield planning.SUPERVISOR_LAUNCHER.lstrip("/"), LAUNCHER.encode(), 0o755


@functools.lru_cache(maxsize=1)
def supervisor_digest() -> str:
    """Read once per process: every plan() needs it, and the files do not change under us."""
    digest = hashlib.sha256()
    for name, data, _ in supervisor_files():
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def supervisor_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in supervisor_files():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def host_facts(remote: bool, forward: bool = False) -> planning.HostFacts:
    if sys.platform.startswith("linux"):
        return planning.HostFacts(uid=os.getuid(), gid=os.getgid(), remote=remote, forward=forward)
    return planning.HostFacts(remote=remote, forward=forward)


class Session:
    """One project's container on one engine."""

    def __init__(self, config, engine, report: Report = _noop):
        self.config = config
        self.engine = engine
        self.client = engine.client
        self.report = report
        self.facts = host_facts(engine.remote, forward=getattr(engine, "forwards_ports", False))

    # -- finding -------------------------------------------------------------------------------
    def containers(self, all: bool = True) -> List:
        """Every container carrying this project's label."""
        label = f"{planning.LABEL_PROJECT}={self.config.name}"
        return self.client.containers.list(all=all, filters={"label": label})

    def container(self):
        """The project's container, or None."""
        found = self.containers()
        return found[0] if found else None

    def running(self):
        """The running container, or an error saying to start it."""
        container = self.container()
        if container is None or container.status != "running":
            raise DevboxError(f"{self.config.name} is not running", "start it with `devbox up`")
        return container

    # -- image ---------------------------------------------------------------------------------
    def ensure_image(self, rebuild: bool = False) -> str:
        """Build `build:` (always, the build cache makes it cheap) or find/pull `image:`; the image id."""
        import docker

        if self.config.build:
            return self._build()
        name = self.config.image_tag
        try:
            image = self.client.images.get(name)
            self.report("image", image=name, how="cached")
            return image.id
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect image {name}: {exc.explanation}") from None
        self.report("image", image=name, how="pulling")
        repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
        try:
            for progress in self.client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in progress:
                    raise docker.errors.APIError(progress["error"])
                self.report("pull", image=name, status=progress.get("status", ""), id=progress.get("id", ""))
            return self.client.images.get(name).id
        except docker.errors.APIError as exc:
            reason = (getattr(exc, "explanation", None) or str(exc)).splitlines()[0][:200]
            raise EngineError(
                f"image {name} is not on the engine and cannot be pulled: {reason}",
                "check the name, set `build:` in devbox.yml to build it, or pull it where a registry is reachable",
            ) from None

    def _build(self) -> str:
        import docker

        build = self.config.build
        context = build.context_path
        tag = self.config.image_tag
        self.report("image", image=tag, how="building")
        started = time.monotonic()
        try:
            for chunk in self.client.api.build(path=str(context), dockerfile=build.dockerfile, tag=tag,
                                               buildargs=build.args_dict(), rm=True, forcerm=True, decode=True,
                                               labels={planning.LABEL_PROJECT: self.config.name}):
                if "error" in chunk:
                    raise EngineError(f"image build failed: {chunk['error'].strip()}",
                                      f"fix {build.dockerfile} and run `devbox up` again")
                line = chunk.get("stream", "").rstrip()
                if line:
                    self.report("build", line=line)
        except docker.errors.APIError as exc:
            raise EngineError(f"image build failed: {exc.explanation}",
                              f"fix {build.dockerfile} and run `devbox up` again") from None
        image = self.client.images.get(tag)
        self.report("built", image=tag, seconds=time.monotonic() - started)
        return image.id

    # -- lifecycle -----------------------------------------------------------------------------
    def plan(self, image_id: str = "") -> planning.ContainerSpec:
        return planning.plan(self.config, self.facts, image_id=image_id, supervisor_digest=supervisor_digest())

    def up(self, rebuild: bool = False):
        """Image, then reuse the container if its config hash matches, else (re)create it; started
        and serving (or showing the error page) when this returns. Returns (container, LogStream)."""
        image_id = self.ensure_image(rebuild=rebuild)
        spec = self.plan(image_id)
        existing = self.container()
        if existing is not None and existing.labels.get(planning.LABEL_HASH) == spec.config_hash:
            if spec.sync == "copy":
                # A reused container holds the tree of its last session: send today's (files
                # deleted here since then stay until `devbox down`).
                from devbox import sync

                sync.initial(existing, self.config, self.report)
            if existing.status == "running":
                self.report("container", name=existing.name, how="running", spec=spec)
                return existing, self.follow(existing, since=None, tail=0)
            self.report("container", name=existing.name, how="restarting", spec=spec)
            return existing, self._start(existing, spec)
        if existing is not None:
            self.report("container", name=existing.name, how="recreating", spec=spec)
            self._remove(existing)
        return self._create(spec)

    def _create(self, spec: planning.ContainerSpec):
        import docker

        container = None
        try:
            container = self.client.containers.create(**spec.create_kwargs())
            container.put_archive("/", supervisor_archive())
            if spec.sync == "copy":
                from devbox import sync

                sync.initial(container, self.config, self.report)
            self.report("container", name=spec.name, how="created", spec=spec)
            return container, self._start(container, spec)
        except BaseException as exc:
            if container is not None:
                self._remove(container)
            if isinstance(exc, docker.errors.APIError):
                raise self._explain(exc, spec) from None
            raise

    def _start(self, container, spec):
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        container.start()
        stream = self.follow(container, since=since)
        self.wait_ready(container, stream, after=0, timeout=READY_TIMEOUT)
        return stream

    def follow(self, container, since=None, tail="all"):
        """A started LogStream of the container's output, reporting lines and events."""
        kwargs = dict(stream=True, follow=True, tail=tail)
        if since is not None:
            kwargs["since"] = since
        chunks = container.logs(**kwargs)
        return LogStream(chunks, on_line=lambda line: self.report("line", line=line),
                         on_event=lambda kind, fields: self.report("supervisor", kind=kind, **fields)).start()

    def wait_ready(self, container, stream, after: int, timeout: float):
        """The first ready/crashed event after `after`; an error when the container exits first."""
        event = stream.wait_for((protocol.EVENT_READY, protocol.EVENT_CRASHED), after=after, timeout=timeout)
        if event is not None:
            return event
        container.reload()
        if container.status != "running":
            tail = container.logs(tail=5).decode("utf-8", "replace").strip().splitlines()
            last = tail[-1] if tail else f"exit status {container.attrs['State'].get('ExitCode')}"
            raise EngineError(f"the container exited at start: {last}",
                              "see `devbox logs`; does the image have python3?")
        raise EngineError(f"the supervisor did not report ready within {timeout:g} s", "see `devbox logs`")

    def _explain(self, exc, spec) -> DevboxError:
        text = str(getattr(exc, "explanation", None) or exc)
        if "port is already allocated" in text or "address already in use" in text:
            _, ip, host_port = spec.ports[0]
            for _, ip, host_port in spec.ports:
                if f":{host_port}" in text:
                    break
            who = "another container" if "already allocated" in text else "another process"
            return EngineError(
                f"port {host_port} on {ip} is already in use (by {who}); "
                f"set `ports: [\"{host_port + 1}:{spec.ports[0][0]}\"]` or stop it. Nothing was started.")
        return EngineError(f"the engine refused: {text.splitlines()[0] if text else exc}")

    def _remove(self, container, volumes: bool = False) -> None:
        import docker

        try:
            container.remove(force=True, v=volumes)
        except docker.errors.NotFound:
            pass

    def stop(self) -> float:
        """Stop the project's running containers (kept for a fast next `up`); seconds taken."""
        started = time.monotonic()
        for container in self.containers(all=False):
            container.stop(timeout=int(self.config.stop_grace) + 2)
        return time.monotonic() - started

    def down(self, volumes: bool = False) -> List[str]:
        """Stop and remove every container with the project label; names removed (none is fine)."""
        removed = []
        for container in self.containers():
            if container.status == "running":
                container.stop(timeout=int(self.config.stop_grace) + 2)
            self._remove(container, volumes=volumes)
            removed.append(container.name)
        return removed

    def reload(self, wait: bool = True, timeout: float = 30.0) -> Optional[float]:
        """SIGHUP the supervisor; with `wait`, ms until the new child serves."""
        container = self.running()
        stream = self.follow(container, since=None, tail=0) if wait else None
        sent = time.time()
        container.kill(signal=protocol.RELOAD_SIGNAL)
        if stream is None:
            return None
        event = self.wait_ready(container, stream, after=0, timeout=timeout)
        return (event[2] - sent) * 1000.0

    def supervisor_status(self, container) -> dict:
        """The supervisor's status file, or {} when it cannot be read."""
        try:
            result = container.exec_run(["cat", planning.STATUS_FILE], demux=False)
            return json.loads(result.output) if result.exit_code == 0 else {}
        except Exception:  # noqa: BLE001 - status is best effort
            return {}

    def status(self) -> List[dict]:
        rows = []
        for container in self.containers():
            state = container.attrs["State"]
            row = dict(name=self.config.name, container=container.name, state=container.status,
                       image=container.attrs["Config"]["Image"], started_at=state.get("StartedAt", ""),
                       urls=_urls(container), supervisor={})
            if container.status == "running":
                row["supervisor"] = self.supervisor_status(container)
            rows.append(row)
        return rows


def _urls(container) -> List[str]:
    urls = []
    for bindings in (container.attrs["HostConfig"].get("PortBindings") or {}).values():
        for binding in bindings or []:
            urls.append(f"http://{planning.url_host(binding.get('HostIp') or '')}:{binding.get('HostPort')}")
    return urls
