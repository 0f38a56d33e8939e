"""``wxstream kafka`` and ``wxstream topics``: the local broker's life cycle from the CLI.

These tests run their own broker on free ports with a temporary data folder, because
they stop and restart it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from tests.kafka_harness import free_port, read_topic
from tests.processes import WXSTREAM, wxstream_env
from wxstream.settings import default_cache_dir
from wxstream.topics import admin_client


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WXSTREAM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def broker_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("cli-broker")
    cache_dir = os.environ.get("WXSTREAM_KAFKA_CACHE_DIR", str(default_cache_dir() / "kafka"))
    env = wxstream_env(
        kafka_data_dir=data_dir,
        kafka_cache_dir=cache_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_heap="384m",
        topic_prefix="cli.",
        topic_partitions=3,
    )
    yield env
    run_cli(env, "kafka", "stop")


def test_kafka_lifecycle_keeps_data_across_restart(broker_env: dict[str, str]) -> None:
    bootstrap = f"127.0.0.1:{broker_env['WXSTREAM_KAFKA_PORT']}"

    started = run_cli(broker_env, "kafka", "start")
    assert started.returncode == 0, started.stderr + started.stdout
    assert f"kafka running on {bootstrap}" in started.stdout

    created = run_cli(broker_env, "topics", "create")
    assert created.returncode == 0, created.stderr + created.stdout
    assert "cli.webex.webhooks" in created.stdout

    status = run_cli(broker_env, "kafka", "status")
    assert status.returncode == 0
    assert "running" in status.stdout
    assert bootstrap in status.stdout

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce("cli.backend.events", key=b"room-1", value=b"kept", headers=[("ce_id", b"1")])
    assert producer.flush(15) == 0

    stopped = run_cli(broker_env, "kafka", "stop")
    assert stopped.returncode == 0
    assert "kafka stopped" in stopped.stdout
    assert "stopped" in run_cli(broker_env, "kafka", "status").stdout

    restarted = run_cli(broker_env, "kafka", "start")
    assert restarted.returncode == 0, restarted.stderr + restarted.stdout
    assert "formatting storage" not in restarted.stdout

    records = read_topic(bootstrap, "cli.backend.events", timeout=30)
    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"room-1", b"kept", [("ce_id", b"1")])
    ]


def test_kafka_second_start_starts_nothing(broker_env: dict[str, str]) -> None:
    if run_cli(broker_env, "kafka", "status").returncode != 0:
        assert run_cli(broker_env, "kafka", "start").returncode == 0
    pid_file = Path(broker_env["WXSTREAM_KAFKA_DATA_DIR"]) / "broker.pid"
    pid_before = pid_file.read_text()

    second = run_cli(broker_env, "kafka", "start")

    assert second.returncode == 1
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr
    assert pid_file.read_text() == pid_before


def test_topics_create_twice_changes_nothing(broker_env: dict[str, str]) -> None:
    if run_cli(broker_env, "kafka", "status").returncode != 0:
        assert run_cli(broker_env, "kafka", "start").returncode == 0

    first = run_cli(broker_env, "topics", "create")
    second = run_cli(broker_env, "topics", "create")

    assert first.returncode == 0
    assert second.returncode == 0
    assert "created" not in second.stdout
    assert second.stdout.count(" exists ") == 7


def test_topics_wrong_partition_count_is_reported(broker_env: dict[str, str]) -> None:
    if run_cli(broker_env, "kafka", "status").returncode != 0:
        assert run_cli(broker_env, "kafka", "start").returncode == 0
    bootstrap = f"127.0.0.1:{broker_env['WXSTREAM_KAFKA_PORT']}"
    admin = admin_client(bootstrap)
    futures = admin.create_topics(
        [NewTopic("odd.outbound.messages", num_partitions=2, replication_factor=1)]
    )
    futures["odd.outbound.messages"].result(timeout=30)
    env = {**broker_env, "WXSTREAM_TOPIC_PREFIX": "odd."}

    result = run_cli(env, "topics", "create")

    assert result.returncode == 1
    assert "odd.outbound.messages" in result.stdout
    assert "has 2 partitions, expected 3" in result.stdout


def test_kafka_stale_pid_file_is_detected(broker_env: dict[str, str], tmp_path: Path) -> None:
    env = {**broker_env, "WXSTREAM_KAFKA_DATA_DIR": str(tmp_path)}
    (tmp_path / "broker.pid").write_text("999999\n")

    status = run_cli(env, "kafka", "status")

    assert status.returncode == 3
    assert "stopped" in status.stdout
    assert "stale pid file names process 999999" in status.stdout


def test_kafka_missing_java_is_one_clear_message(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **broker_env,
        "WXSTREAM_KAFKA_DATA_DIR": str(tmp_path / "data"),
        "WXSTREAM_KAFKA_PORT": str(free_port()),
        "WXSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PATH": str(tmp_path / "empty-bin"),
    }

    result = run_cli(env, "kafka", "start")

    assert result.returncode == 1
    assert "'java' is not on PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_kafka_unreachable_maven_central_is_one_clear_message(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    # An empty local repository and a mirror on a closed loopback port stand in for an
    # unreachable Maven Central.
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text(
        "<settings><mirrors><mirror><id>unreachable</id><mirrorOf>*</mirrorOf>"
        "<url>http://127.0.0.1:9/maven2</url></mirror></mirrors></settings>"
    )
    env = {
        **broker_env,
        "WXSTREAM_KAFKA_DATA_DIR": str(tmp_path / "data"),
        "WXSTREAM_KAFKA_CACHE_DIR": str(tmp_path / "cache"),
        "WXSTREAM_KAFKA_PORT": str(free_port()),
        "WXSTREAM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "MAVEN_OPTS": f"-Duser.home={home}",
    }

    result = run_cli(env, "kafka", "start", timeout=300)

    assert result.returncode == 1
    assert "could not download Apache Kafka" in result.stderr
    assert "repo.maven.apache.org" in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_id_never_starts_with_dash() -> None:
    from wxstream.broker import new_cluster_id

    ids = [new_cluster_id() for _ in range(5000)]

    assert all(not cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(cluster_id) == 22 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
