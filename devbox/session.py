"""up / down / status / reload for one project: image, container, supervisor injection.

Talks to the engine; decides nothing that plan.py can decide. Reports progress through a
`report(event, **fields)` callable; the CLI renders it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from devbox import events, hooks, logs
from devbox import plan as planning
from devbox import status as statuses
from devbox.container_serving import ContainerServing, _nothing
from devbox.errors import DevboxError, EngineError, UsageError
from devbox.injected import supervisor_archive, supervisor_digest, write_copy
from devbox.interfaces import Exec
from devbox.stop_timeout import stop_timeout
from devbox.supervisor import protocol

READY_TIMEOUT = 60.0
DOCKER_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Report = Callable[..., None]


def _noop(event, **fields):
    pass


def host_facts(remote: bool, forward: bool = False, bus: bool = False) -> planning.HostFacts:
    # The live-reload proxy (devbox/live/) reaches the ports here, and runs in the agent, whose
    # report is its bus: it reads there when the new code serves.
    live = bus and (forward or not remote)
    if sys.platform.startswith("linux"):
        return planning.HostFacts(uid=os.getuid(), gid=os.getgid(), remote=remote, forward=forward, live=live)
    return planning.HostFacts(remote=remote, forward=forward, live=live)


class Session(ContainerServing):
    """One project's container on one engine."""

    def __init__(self, config, engine, report: Report = _noop):
        self.config = config
        self.engine = engine
        self.client = engine.client
        self.report = report
        self.facts = host_facts(engine.remote, forward=getattr(engine, "forwards_ports", False),
                                bus=callable(getattr(report, "add_reader", None)))
        self.image_env: Optional[Dict[str, str]] = None  # for ${containerEnv:NAME}
        self.lifecycle = hooks.Lifecycle(config, report)
        self._before_start: Callable[[], None] = _nothing

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
            self.report(events.IMAGE, image=name, how="cached")
            return image.id
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect image {name}: {exc.explanation}") from None
        self.report(events.IMAGE, image=name, how="pulling")
        repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
        try:
            for progress in self.client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in progress:
                    raise docker.errors.APIError(progress["error"])
                self.report(events.PULL, image=name, status=progress.get("status", ""), id=progress.get("id", ""))
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
        self.report(events.IMAGE, image=tag, how="building")
        started = time.monotonic()
        try:
            for chunk in self.client.api.build(path=str(context), dockerfile=build.dockerfile, tag=tag,
                                               buildargs=build.args_dict(), target=build.target, rm=True, forcerm=True, decode=True,
                                               labels={planning.LABEL_PROJECT: self.config.name}):
                if "error" in chunk:
                    raise EngineError(f"image build failed: {chunk['error'].strip()}",
                                      f"fix {build.dockerfile} and run `devbox up` again")
                line = chunk.get("stream", "").rstrip()
                if line:
                    self.report(events.BUILD, line=line)
        except docker.errors.APIError as exc:
            raise EngineError(f"image build failed: {exc.explanation}",
                              f"fix {build.dockerfile} and run `devbox up` again") from None
        image = self.client.images.get(tag)
        self.report(events.BUILT, image=tag, seconds=time.monotonic() - started)
        return image.id

    # -- lifecycle -----------------------------------------------------------------------------
    def plan(self, image_id: str = "") -> planning.ContainerSpec:
        return planning.plan(self.config, self.facts, image_id=image_id, supervisor_digest=supervisor_digest(),
                             image_env=self.image_env)

    def _image_env(self, image_id: str) -> Optional[Dict[str, str]]:
        """The image's environment, when a value asks for it (`${containerEnv:NAME}`)."""
        if not any("${containerEnv:" in value for _, value in self.config.env):
            return None
        pairs = self.client.images.get(image_id).attrs["Config"].get("Env") or []
        # The engine gives a container its default PATH when the image sets none (`docker import`).
        return {"PATH": DOCKER_DEFAULT_PATH, **dict(pair.partition("=")[::2] for pair in pairs)}

    def up(self, rebuild: bool = False):
        """Image, then reuse the container if its config hash matches, else (re)create it; started
        and serving (or showing the error page) when this returns. Returns (container, LogStream)."""
        image_id = self.ensure_image(rebuild=rebuild)
        self.image_env = self._image_env(image_id)
        spec = self.plan(image_id)
        if spec.supervisor_dir:  # mounted read-only from there (a kept container's too)
            write_copy(Path(spec.supervisor_dir))
        self.lifecycle = hooks.Lifecycle(self.config, self.report)
        existing = self.container()
        if existing is not None and existing.labels.get(planning.LABEL_HASH) == spec.config_hash:
            if existing.status == "running":
                self.report(events.CONTAINER, name=existing.name, how="running", spec=spec)
                stream = self.follow(existing, since=None, tail=0)
            else:
                self.report(events.CONTAINER, name=existing.name, how="restarting", spec=spec)
                self.lifecycle.host()
                stream = self._start(existing, spec)
            if spec.sync == "copy":  # it holds the tree of its last session, not today's
                self._prove_tree(existing, stream)
            return existing, stream
        if existing is not None:
            self.report(events.CONTAINER, name=existing.name, how="recreating", spec=spec)
            self._remove(existing)
        self.lifecycle.host()
        return self._create(spec)

    def _create(self, spec: planning.ContainerSpec):
        import docker

        container = None
        try:
            container = self.client.containers.create(**spec.create_kwargs())
            user_update = self._update_user(container, spec)
            if not spec.supervisor_dir:
                container.put_archive("/", supervisor_archive())
            if spec.gated:
                from devbox import gate

                container.put_archive("/", gate.archive())
            if spec.sync == "copy":
                from devbox import sync

                sync.initial(container, self.config, self.report)
            self.report(events.CONTAINER, name=spec.name, how="created", spec=spec)
            return container, self._start(container, spec, created=True, user_update=user_update)
        except BaseException as exc:
            if container is not None:
                self._remove(container)
            if isinstance(exc, docker.errors.APIError):
                raise self._explain(exc, spec) from None
            raise

    def _prove_tree(self, container, stream) -> None:
        """Copy sync: make the running container's tree the host's (devbox.manifest), in one
        line, and reload when that changed anything (the app started on the old tree)."""
        from devbox import manifest, sync

        diff = manifest.prove(container, self.config,
                              lambda changed, deleted: sync.send(container, self.config, changed, deleted))
        self.report(events.TREE_PROVED, changed=len(diff.changed), deleted=len(diff.deleted), files=diff.files,
                    seconds=diff.seconds)
        if diff.changed or diff.deleted:
            mark, last = stream.mark(), stream.generation
            container.kill(signal=protocol.RELOAD_SIGNAL)
            stream.wait_for(logs.READY_EVENTS, after=mark, timeout=READY_TIMEOUT,
                            match=lambda f: int(f.get("generation", 0) or 0) > last)

    def _update_user(self, container, spec):
        """updateRemoteUserUID before the first start (devbox.remote_user); the update or None."""
        if spec.user_uid is None:
            return None
        from devbox import remote_user

        update, why = remote_user.apply(container, spec.user.partition(":")[0], *spec.user_uid)
        self.report(events.USER_UID, user=spec.user, uid=spec.user_uid[0], gid=spec.user_uid[1], why=why)
        return update

    def _app_may_start(self) -> None:
        """What must be done before the app starts (`serve`'s watcher started), once."""
        before, self._before_start = self._before_start, _nothing
        before()

    def _start(self, container, spec, created: bool = False, user_update=None):
        self._app_may_start()
        container.start()
        if created:  # all its output is of this run
            stream = self.follow(container)
        else:  # a kept container: its output of earlier runs is left out (logs.run_since)
            container.reload()
            stream = logs.follow_run(container, self.report)
        hooks.after_start(self.client, container, hooks.Place.of_spec(spec), self.lifecycle, created, user_update)
        self.wait_ready(container, stream, after=0, timeout=READY_TIMEOUT)
        return stream

    def follow(self, container, since=None, tail="all"):
        return logs.follow(container, self.report, since=since, tail=tail)

    def wait_ready(self, container, stream, after: int, timeout: float):
        return logs.wait_ready(container, stream, after=after, timeout=timeout)

    def _explain(self, exc, spec) -> DevboxError:
        text = str(getattr(exc, "explanation", None) or exc)
        if "port is already allocated" in text or "address already in use" in text:
            _, ip, host_port = next((p for p in spec.ports if f":{p[2]}" in text), spec.ports[0])
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
            container.stop(timeout=stop_timeout(self.config.stop_grace))
        return time.monotonic() - started

    def down(self, volumes: bool = False) -> List[str]:
        """Stop and remove every container with the project label, and a detached ssh forward;
        names removed (none is fine)."""
        removed = []
        for container in self.containers():
            if container.status == "running":
                container.stop(timeout=stop_timeout(self.config.stop_grace))
            self._remove(container, volumes=volumes)
            removed.append(container.name)
        if self.engine.forwards_ports:
            from devbox import tunnel

            stopped = tunnel.release(self.config.name, self.engine.url)
            if stopped is not None:
                self.report(events.FORWARD_STOPPED, urls=stopped.urls, pid=stopped.pid)
        return removed

    def reload(self, service: Optional[str] = None, timeout: float = 30.0) -> Dict[Optional[str], float]:
        """SIGHUP the supervisor; {None: ms until the new child serves}."""
        if service:
            raise UsageError(f"{self.config.name} has no compose services; run `devbox reload` without a name")
        container = self.running()
        stream = self.follow(container, since=None, tail=0)
        sent = time.time()
        container.kill(signal=protocol.RELOAD_SIGNAL)
        event = self.wait_ready(container, stream, after=0, timeout=timeout)
        return {None: (event[2] - sent) * 1000.0}

    def status(self) -> List[statuses.ContainerStatus]:
        local = not self.engine.remote
        rows = [statuses.of_container(c, self.config.name,
                                      statuses.read_supervisor_status(c, local) if c.status == "running" else {})
                for c in self.containers()]
        if rows and self.engine.forwards_ports and not self.plan().live:  # the engine's bindings are on the VM
            from devbox import tunnel

            forward = tunnel.find(self.config.name, self.engine.url)
            for row in rows:
                row.urls = forward.urls if forward else ["(not forwarded here: `devbox up`)"]
        return rows

    def logs(self, services: Sequence[str], follow: bool, tail: Optional[int],
             on_output: Callable[[Optional[str], object], None]) -> None:
        """The container's output as it comes, in bytes."""
        if services:
            raise UsageError(f"{self.config.name} has no compose services; run `devbox logs` without names")
        container = self.container()
        if container is None:
            raise DevboxError(f"{self.config.name} is not up", "start it with `devbox up`")
        for chunk in container.logs(stream=True, follow=follow, tail="all" if tail is None else tail):
            on_output(None, chunk)

    def exec(self, command: Sequence[str], tty: bool) -> Exec:
        """`docker exec` in the container when the docker CLI is here, else a run through the API."""
        container = self.running()
        command = list(command) or ["sh"]
        docker_cli = shutil.which("docker")
        if docker_cli:
            flags = ["-i"] + (["-t"] if tty else [])
            return Exec(argv=[docker_cli, "exec", *flags, container.id, *command],
                        env=dict(os.environ, DOCKER_HOST=self.engine.url))
        result = container.exec_run(command, workdir=self.config.workdir)
        return Exec(output=result.output, exit_code=result.exit_code)
