"""Fixtures for integration tests: images built once per session, a fresh log folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deploy.compose import ComposeProject

# The user id tests expect to own the log files: when running as root, the log folder is handed
# to another user first, so the test proves files follow the folder's owner and are not root's.
TEST_OWNER = 4321


@pytest.fixture(scope="session")
def images() -> None:
    ComposeProject().build()


@pytest.fixture
def logs(tmp_path: Path, images: None) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    if os.geteuid() == 0:
        os.chown(folder, TEST_OWNER, TEST_OWNER)
    return folder


@pytest.fixture
def owner() -> int:
    return TEST_OWNER if os.geteuid() == 0 else os.geteuid()
