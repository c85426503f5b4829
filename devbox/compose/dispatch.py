"""The watcher's side of a compose project: one filter over every service's paths, a batch
split per service, a target per supervised container, and the dispatcher that rebuilds together
and reloads concurrently."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from devbox import events, filters
from devbox.actions import Action
from devbox.errors import DevboxError
from devbox.paths import covers
from devbox.supervisor import protocol
from devbox.targets import RELOAD_TIMEOUT, Target
from devbox.batch import Batch


def service_filter(config, service) -> filters.PathFilter:
    watch = service.watch
    return filters.PathFilter(config.root, ignore=watch.ignore, no_reload=watch.no_reload, rebuild=watch.rebuild)


class UnionFilter:
    """The watcher's filter over all services: a path matters if some service that watches it
    does not ignore it. Classification is per service, in `split`."""

    def __init__(self, config):
        self.config = config
        self.parts = [(service, service_filter(config, service)) for service in config.compose.services]

    def __call__(self, change, path) -> bool:
        rel = self.parts[0][1].relative(path) if self.parts else None
        return bool(rel) and any(covers(s.watch.paths, rel) and f.classify(rel) != filters.IGNORE
                                 for s, f in self.parts)

    def classify_batch(self, paths) -> Action:
        return filters.strongest(action for _, (action, _, _) in self.split(paths, []).items())

    def prunes(self, path) -> bool:
        """A directory no service's rules can ever want (see filters.PathFilter.prunes)."""
        return all(f.prunes(path) for _, f in self.parts)

    @property
    def unreadable(self) -> set:
        return {rel for _, f in self.parts for rel in f.unreadable}

    def reload_rules(self) -> None:
        for _, f in self.parts:
            f.reload_rules()

    def walk(self, top=None):
        seen = set()
        for service, f in self.parts:
            for rel in f.walk(top):
                if rel not in seen and covers(service.watch.paths, rel):
                    seen.add(rel)
                    yield rel

    def split(self, changed: Sequence[str], deleted: Sequence[str]) -> Dict[str, Tuple[str, List[str], List[str]]]:
        """service name -> (action, changed, deleted) for every service a change concerns."""
        result = {}
        for service, f in self.parts:
            mine_changed = [p for p in changed if covers(service.watch.paths, p)]
            mine_deleted = [p for p in deleted if covers(service.watch.paths, p)]
            action = f.classify_batch(mine_changed + mine_deleted)
            if action != filters.IGNORE:
                keep = [p for p in mine_changed if f.classify(p) != filters.IGNORE]
                gone = [p for p in mine_deleted if f.classify(p) != filters.IGNORE]
                result[service.name] = (action, keep, gone)
        return result


class ServiceTarget(Target):
    """One container of a supervised service, signalled through the Docker API."""

    def __init__(self, service: str, label: str, container, stream, report):
        super().__init__(report)
        self.service = service
        self.label = label  # "web", or "web.2" for a second replica
        self.container = container
        self.stream = stream

    def send_reload(self) -> None:
        import docker

        try:
            self.container.kill(signal=protocol.RELOAD_SIGNAL)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: it stopped just now; recovery brings it back
                raise

    def adopt(self, container, stream) -> None:
        """The service's container started again (or recreated): follow that one."""
        old, self.container, self.stream = self.stream, container, stream
        if old is not stream:
            old.close()


@dataclass
class Running:
    """What `up` leaves behind: a target per supervised container, every container's log stream."""

    targets: List[ServiceTarget]
    streams: Dict[str, object]  # label -> LogStream, for every container of the project
    urls: Dict[str, List[str]]  # service -> URLs of its published supervised port (or all ports)
    unsupervised: List[str]


class Dispatcher:
    """The watcher's on_batch: split per service, rebuild together, reload concurrently."""

    def __init__(self, session, running: Running, union: UnionFilter):
        self.session = session
        self.running = running
        self.union = union
        self.lock = threading.Lock()

    def act(self, batch: Batch) -> None:
        parts = self._asked(batch) if batch.services is not None else self.union.split(batch.changed, batch.deleted)
        if not parts:
            return
        rebuild = sorted(name for name, (action, _, _) in parts.items() if action == filters.REBUILD)
        recreated: List[str] = []
        if rebuild:
            paths = sorted({p for name in rebuild for p in parts[name][1] + parts[name][2]})
            recreated = self.session.rebuild(self.running, rebuild, paths)
        jobs = []
        for target in self.running.targets:
            if target.service in parts and target.service not in recreated:
                action, changed, deleted = parts[target.service]
                # An image that came out the same keeps its container: a reload then does.
                action = filters.RELOAD if action == filters.REBUILD else action
                jobs.append((target, Batch(action=action, changed=changed, deleted=deleted, t0=batch.t0, at=batch.at)))
        if len(jobs) <= 1:
            for job in jobs:
                self._act(*job)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                for future in [pool.submit(self._act, target, sub) for target, sub in jobs]:
                    future.result()
        if jobs and all(sub.settled_at for _, sub in jobs):
            batch.settled_at = max(sub.settled_at for _, sub in jobs)  # the last service's

    def _asked(self, batch: Batch) -> Dict[str, Tuple[str, List[str], List[str]]]:
        """A batch asked for by hand (the dashboard): its action for the services it names
        (none: every supervised one), whatever its paths."""
        names = [t.service for t in self.running.targets]
        wanted = [name for name in (batch.services or names) if name]
        return {name: (batch.action, [], []) for name in dict.fromkeys(wanted or names) if name in names}

    def _restart(self, target: ServiceTarget) -> None:
        """`docker restart` of the service's container, followed until its new supervisor serves
        (recovery takes turns with this on its lock, and then finds it running and followed)."""
        from devbox import logs
        from devbox.stop_timeout import stop_timeout

        started = time.monotonic()
        target.container.restart(timeout=stop_timeout(self.session.config.stop_grace))
        self.session.refollow(self.running, target.label)
        logs.wait_ready(target.container, target.stream, after=0, timeout=RELOAD_TIMEOUT)
        target.report(events.CONTAINER_RESTARTED, name=target.container.name, seconds=time.monotonic() - started)

    def _act(self, target: ServiceTarget, batch: Batch) -> None:
        """One service's action; its failure (say, its container was removed) is reported and
        the others and the watcher carry on."""
        import docker

        try:
            if batch.action == Action.RESTART:
                self._restart(target)
                return
            target.act(batch)
        except (DevboxError, docker.errors.DockerException) as exc:
            target.report(events.ACTION_FAILED, paths=batch.paths, error=str(exc).splitlines()[0])
