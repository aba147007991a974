"""One daemon per state directory."""

import os

import pytest

from edge.errors import StorageError
from edge.instance import InstanceLock


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_is_released_on_close(tmp_path):
    first = InstanceLock(tmp_path)
    with pytest.raises(StorageError, match=rf"another gatepost daemon \(pid {os.getpid()}\)"):
        InstanceLock(tmp_path)
    first.close()
    first.close()  # twice is fine
    with InstanceLock(tmp_path):
        pass


def test_an_unwritable_state_directory_is_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create the lock file"):
        InstanceLock(blocked / "state")
