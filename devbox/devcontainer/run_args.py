"""`runArgs`, the `docker run` flags a devcontainer.json passes, onto devbox's keys and container
options; flags with no devbox meaning are refused by name."""

from __future__ import annotations

from devbox.config.tree import Node
from devbox.devcontainer.nodes import _node

_VALUE_FLAGS = {
    "-e": "env", "--env": "env", "-p": "publish", "--publish": "publish", "-u": "user", "--user": "user",
    "-v": "volume", "--volume": "volume", "--mount": "mount", "-w": "workdir", "--workdir": "workdir",
    "--cap-add": "cap_add", "--cap-drop": "cap_drop", "--security-opt": "security_opt", "--shm-size": "shm_size",
    "--add-host": "extra_hosts", "--device": "devices", "--network": "network", "--net": "network",
    "--hostname": "hostname", "-h": "hostname", "--label": "labels", "-l": "labels", "--name": "name",
}  # fmt: skip
_BOOL_FLAGS = {"--privileged": "privileged", "--init": "init", "--rm": "", "-i": "", "-t": "", "-it": "", "-ti": "",
               "--interactive": "", "--tty": "", "-d": "", "--detach": ""}  # fmt: skip
_LIST_OPTIONS = ("cap_add", "cap_drop", "security_opt", "devices")


class RunArgs:
    """`runArgs`, as `docker run` reads them, onto devbox's keys and container options."""

    def __init__(self, mapping, node: Node):  # mapping: the devcontainer mapping being built
        self.m = mapping
        self.node = node

    def apply(self) -> None:
        """Apply what maps; a flag that does not is an error naming it."""
        refused, ignored = [], []
        items = self.node.items()
        i = 0
        while i < len(items):
            item = items[i]
            flag, sep, value = item.text(numbers=True).partition("=")
            i += 1
            if flag in _BOOL_FLAGS:
                option = _BOOL_FLAGS[flag]
                if option:
                    self.m.options[option] = value.lower() not in ("false", "0") if sep else True
                else:
                    ignored.append(flag)
            elif flag in _VALUE_FLAGS:
                if not sep:
                    if i >= len(items):
                        raise item.error(f"{flag} needs a value after it")
                    item, value = items[i], items[i].text(numbers=True)
                    i += 1
                self.value(_VALUE_FLAGS[flag], _node(value, item), ignored, flag)
            elif flag.startswith("-"):
                refused.append(flag)
            else:
                refused.append(repr(flag))
        if ignored:
            self.m.warn(self.node, f"runArgs {', '.join(dict.fromkeys(ignored))}: not needed, devbox names and runs the container itself")
        if refused:
            raise self.node.error(
                f"has options devbox does not apply: {', '.join(refused)}",
                f"devbox applies {' '.join(sorted(_VALUE_FLAGS))} {' '.join(sorted(_BOOL_FLAGS))}; remove the others",
            )

    def value(self, option: str, item: Node, ignored: list[str], flag: str) -> None:
        m, text = self.m, item.value
        if option == "env":
            name, sep, value = text.partition("=")
            if sep:
                m.env[name] = _node(value, item)
            elif name in m.environ:  # `-e NAME` passes the host's value
                m.env[name] = _node(m.environ[name], item)
        elif option == "publish":
            m.ports.append(item)
        elif option == "user":
            m.out.setdefault("user", item)
        elif option == "volume":
            m.mounts.append(_node(_volume(item), item))
        elif option == "mount":
            m.mounts.append(item)
        elif option == "workdir":
            if "workspaceFolder" not in m.keys:
                m.out["workdir"] = item
        elif option == "name":
            ignored.append(flag)
        elif option in _LIST_OPTIONS:
            m.options[option] = (*m.options.get(option, ()), text)
        elif option in ("extra_hosts", "labels"):
            separator = ":" if option == "extra_hosts" else "="
            key, sep, value = text.partition(separator)
            if not sep or not key:
                raise item.error(f"{flag} {text!r} is not NAME{separator}VALUE")
            m.options[option] = (*m.options.get(option, ()), (key, value))
        else:
            m.options[option] = text


def _volume(item: Node) -> str:
    """docker's `-v SOURCE:TARGET[:ro]` in its `--mount` form."""
    parts = item.value.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise item.error(f"-v {item.value!r} is not SOURCE:TARGET[:ro]", "or write it in mounts")
    source, target = parts[0], parts[1]
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    read_only = ",readonly" if len(parts) == 3 and "ro" in parts[2].split(",") else ""
    return f"type={kind},source={source},target={target}{read_only}"
