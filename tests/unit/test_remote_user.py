"""updateRemoteUserUID's rewrite of /etc/passwd and /etc/group (pure)."""

from devbox import remote_user

PASSWD = "root:x:0:0:root:/root:/bin/sh\nvscode:x:1000:1000::/home/vscode:/bin/sh\n"
GROUP = "root:x:0:\nvscode:x:1000:\nstaff:x:50:\n"


def test_the_user_gets_the_host_ids_and_its_group_follows():
    update, why = remote_user.rewrite(PASSWD, GROUP, "vscode", 4321, 4322)
    assert why == ""
    assert "vscode:x:4321:4322::/home/vscode:/bin/sh\n" in update.passwd
    assert "vscode:x:4322:\n" in update.group and update.home == "/home/vscode"
    assert remote_user.chown_home_argv(update) == ["chown", "-R", "4321:4322", "/home/vscode"]


def test_a_uid_another_account_has_is_left_alone():
    update, why = remote_user.rewrite(PASSWD, GROUP, "vscode", 0, 0)
    assert update is None and "uid 0" in why


def test_a_gid_another_group_has_keeps_the_old_gid():
    update, _ = remote_user.rewrite(PASSWD, GROUP, "vscode", 4321, 50)
    assert "vscode:x:4321:1000:" in update.passwd and update.gid == 1000


def test_nothing_to_do_and_a_missing_user_are_said():
    assert remote_user.rewrite(PASSWD, GROUP, "vscode", 1000, 1000) == (None, "")
    update, why = remote_user.rewrite(PASSWD, GROUP, "nobody", 4321, 4321)
    assert update is None and "not in the image" in why
