"""A single-node Apache Kafka broker (KRaft combined mode) run from Maven Central jars.

The jars are resolved once with Maven into a cache folder per Kafka version. Each data
folder is formatted once and keeps its log across restarts, because the log is the
audit trail. The broker runs in the background in its own session, with its pid recorded
in the data folder. Stopping sends SIGTERM to that pid, then SIGKILL after a timeout.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from wxstream.locks import LockBusy, exclusive_lock
from wxstream.settings import Settings

logger = logging.getLogger(__name__)

MIN_JAVA_MAJOR = 17
BROKER_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"

Progress = Callable[[str], None]


class BrokerError(Exception):
    """The local broker could not be set up, started or stopped."""


class BrokerAlreadyRunning(BrokerError):
    """A broker recorded in this data folder is already running."""


@dataclass(frozen=True)
class BrokerConfig:
    """Locations of the local broker's jars and data, and its ports."""

    version: str
    cache_dir: Path
    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    internal_partitions: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerConfig:
        return cls(
            version=settings.kafka_version,
            cache_dir=settings.kafka_cache_dir,
            data_dir=settings.kafka_data_dir,
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            heap=settings.kafka_heap,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir / self.version / "lib"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "log"

    @property
    def log4j_version(self) -> str:
        minor = int(self.version.split(".")[1])
        return "2.24.3" if minor <= 1 else "2.25.3"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    data_dir: Path
    stale_pid: int | None = None


def _print(message: str) -> None:
    print(message, flush=True)


class LocalBroker:
    """Resolves, formats, starts, checks and stops one local broker."""

    def __init__(self, config: BrokerConfig, progress: Progress = _print) -> None:
        self.config = config
        self.progress = progress

    # --- prerequisites -----------------------------------------------------------

    def check_java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise BrokerError(
                f"Java {MIN_JAVA_MAJOR}+ is required to run the local Kafka broker but 'java' "
                "is not on PATH. Install a JDK (for example: apt-get install "
                "openjdk-17-jre-headless) or point WXSTREAM_KAFKA_BOOTSTRAP_SERVERS at a broker."
            )
        try:
            result = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerError(f"could not run '{java} -version': {exc}") from exc
        match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
        major = int(match.group(1)) if match else 0
        if major == 1 and match and match.group(2):
            major = int(match.group(2))
        if major < MIN_JAVA_MAJOR:
            raise BrokerError(
                f"Java {MIN_JAVA_MAJOR}+ is required to run the local Kafka broker; {java} is "
                f"version {major or 'unknown'}. Install JDK {MIN_JAVA_MAJOR} or newer."
            )
        return java

    def jars_present(self) -> bool:
        return (self.config.lib_dir / ".complete").exists()

    def ensure_jars(self) -> Path:
        """Download the broker and a log4j2 binding from Maven Central, once per version."""
        lib = self.config.lib_dir
        if self.jars_present():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                "Maven is required to download the Kafka broker but 'mvn' is not on PATH. "
                "Install it (for example: apt-get install maven) or point "
                "WXSTREAM_KAFKA_BOOTSTRAP_SERVERS at a broker."
            )

        work = lib.parent
        work.mkdir(parents=True, exist_ok=True)
        (work / "pom.xml").write_text(self._pom())
        staging = work / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        self.progress(
            f"downloading Apache Kafka {self.config.version} and log4j "
            f"{self.config.log4j_version} from Maven Central into {lib}"
        )
        command = [
            mvn,
            "-B",
            "--no-transfer-progress",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        output = self._run_maven(command)

        jars = sorted(staging.glob("*.jar")) if staging.exists() else []
        if not any(jar.name.startswith("kafka_2.13-") for jar in jars):
            raise BrokerError(
                f"could not download Apache Kafka {self.config.version} from Maven Central.\n"
                f"Maven reported:\n{_maven_errors(output)}\n"
                "Check that https://repo.maven.apache.org is reachable (or that ~/.m2/settings.xml "
                "names a reachable mirror) and that WXSTREAM_KAFKA_VERSION is a released 4.x "
                "version."
            )

        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
        (lib / ".complete").write_text(f"{len(jars)} jars\n")
        self.progress(f"downloaded {len(jars)} jars")
        return lib

    def _run_maven(self, command: list[str]) -> list[str]:
        output: list[str] = []
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise BrokerError(f"could not run Maven: {exc}") from exc
        assert process.stdout is not None
        deadline = time.monotonic() + 900
        for line in process.stdout:
            output.append(line.rstrip())
            match = re.search(r"Downloaded from \S+: \S+/([^/\s]+\.jar) \(([^)]*)\)", line)
            if match:
                self.progress(f"  {match.group(1)} ({match.group(2)})")
            if time.monotonic() > deadline:
                process.kill()
                raise BrokerError("Maven did not finish within 15 minutes; check the network")
        process.wait(timeout=60)
        return output

    def _pom(self) -> str:
        log4j = self.config.log4j_version
        dependencies = [
            ("org.apache.kafka", "kafka_2.13", self.config.version),
            ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j),
            ("org.apache.logging.log4j", "log4j-core", log4j),
            ("org.apache.logging.log4j", "log4j-api", log4j),
        ]
        entries = "\n".join(
            f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
            f"<version>{v}</version></dependency>"
            for g, a, v in dependencies
        )
        return (
            '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
            "  <modelVersion>4.0.0</modelVersion>\n"
            "  <groupId>wxstream.local</groupId><artifactId>kafka-runtime</artifactId>"
            "<version>1</version>\n"
            f"  <dependencies>\n{entries}\n  </dependencies>\n</project>\n"
        )

    # --- configuration and storage -------------------------------------------------

    def write_config(self) -> None:
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        partitions = config.internal_partitions
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{config.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{config.port},CONTROLLER://127.0.0.1:{config.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{config.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(config.log_dirs),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # One node: every internal topic must have replication factor 1, or consumer
            # groups and transactions never form.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": str(partitions),
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": str(min(partitions, 4)),
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        text = "".join(f"{key}={value}\n" for key, value in properties.items())
        config.properties_file.write_text(text)
        (config.data_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)

    def is_formatted(self) -> bool:
        return (self.config.log_dirs / "meta.properties").exists()

    def format_storage(self, java: str) -> None:
        if self.is_formatted():
            return
        self.progress(f"formatting storage in {self.config.log_dirs}")
        cluster_id = new_cluster_id()
        command = [
            *self._java_command(java, STORAGE_TOOL_CLASS),
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.config.properties_file),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting the Kafka storage in {self.config.log_dirs} failed:\n"
                + (result.stderr or result.stdout).strip()[-2000:]
            )

    def _java_command(self, java: str, main_class: str) -> list[str]:
        config = self.config
        return [
            java,
            f"-Xms{config.heap}",
            f"-Xmx{config.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={config.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={config.data_dir}",
            "-cp",
            f"{config.lib_dir}/*",
            main_class,
        ]

    # --- lifecycle ---------------------------------------------------------------------

    def status(self) -> BrokerStatus:
        pid = self._read_pid()
        running = pid is not None and self._is_our_broker(pid)
        return BrokerStatus(
            running=running,
            pid=pid if running else None,
            bootstrap=self.config.bootstrap,
            data_dir=self.config.data_dir,
            stale_pid=pid if pid is not None and not running else None,
        )

    def start(self, timeout: float = 90.0) -> int:
        """Start the broker in the background and wait until an admin client connects."""
        with self._lifecycle_lock("start"):
            return self._start(timeout)

    def _lifecycle_lock(self, action: str) -> AbstractContextManager[None]:
        """Lock the data folder so two processes never start or stop its broker at once."""
        lock = exclusive_lock(self.config.data_dir / "broker.lock")
        return _translate_busy(lock, self.config.data_dir, action)

    def _start(self, timeout: float) -> int:
        current = self.status()
        if current.running:
            raise BrokerAlreadyRunning(
                f"a Kafka broker is already running for {self.config.data_dir} "
                f"(pid {current.pid}, {self.config.bootstrap}); nothing was started"
            )
        if current.stale_pid is not None:
            self.progress(f"removing stale pid file (process {current.stale_pid} is gone)")
            self.config.pid_file.unlink(missing_ok=True)
        self._check_ports_free()
        java = self.check_java()
        self.ensure_jars()
        self.write_config()
        self.format_storage(java)

        command = [*self._java_command(java, BROKER_MAIN_CLASS), str(self.config.properties_file)]
        log = self.config.log_file.open("ab")
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.config.data_dir,
            )
        finally:
            log.close()
        self.config.pid_file.write_text(f"{process.pid}\n")
        self.progress(f"waiting for broker on {self.config.bootstrap} (pid {process.pid})")
        try:
            self._wait_ready(process, timeout)
        except BaseException:
            self._terminate(process.pid, timeout=10)
            if self._read_pid() == process.pid:
                self.config.pid_file.unlink(missing_ok=True)
            raise
        return process.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the recorded broker; returns False when none was running."""
        with self._lifecycle_lock("stop"):
            return self._stop(timeout)

    def _stop(self, timeout: float) -> bool:
        status = self.status()
        if not status.running or status.pid is None:
            self.config.pid_file.unlink(missing_ok=True)
            return False
        self._terminate(status.pid, timeout)
        self.config.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.config.log_file.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        admin = AdminClient(
            {"bootstrap.servers": self.config.bootstrap, "socket.timeout.ms": 5000, "log_level": 0}
        )
        while True:
            code = process.poll()
            if code is not None:
                raise BrokerError(
                    f"the Kafka broker exited with code {code} during start-up. "
                    f"Last lines of {self.config.log_file}:\n{self.log_tail()}"
                )
            try:
                metadata = admin.list_topics(timeout=3)
                if metadata.brokers:
                    return
            except Exception as exc:
                logger.debug("broker not ready yet: %s", exc)
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"the Kafka broker did not answer on {self.config.bootstrap} within "
                    f"{timeout:.0f} s. Last lines of {self.config.log_file}:\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def _check_ports_free(self) -> None:
        import socket

        for port in (self.config.port, self.config.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise BrokerError(
                        f"port {port} on 127.0.0.1 is already in use by another process. "
                        "Stop it, or choose other ports with WXSTREAM_KAFKA_PORT and "
                        "WXSTREAM_KAFKA_CONTROLLER_PORT."
                    )

    def _read_pid(self) -> int | None:
        try:
            return int(self.config.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_our_broker(self, pid: int) -> bool:
        """True when ``pid`` is a live Kafka broker started with this data folder's config."""
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            cmdline = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return BROKER_MAIN_CLASS in cmdline and str(self.config.properties_file) in cmdline

    def _terminate(self, pid: int, timeout: float) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            psutil.Process(pid).wait(timeout=timeout)
        except psutil.NoSuchProcess:
            return
        except psutil.TimeoutExpired:
            self.progress(f"broker pid {pid} did not stop within {timeout:.0f} s; killing it")
            try:
                os.kill(pid, signal.SIGKILL)
                psutil.Process(pid).wait(timeout=10)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass


@contextmanager
def _translate_busy(
    lock: AbstractContextManager[None], data_dir: Path, action: str
) -> Iterator[None]:
    try:
        with lock:
            yield
    except LockBusy as exc:
        holder = f"process {exc.holder_pid}" if exc.holder_pid else "another process"
        raise BrokerAlreadyRunning(
            f"{holder} is starting or stopping the Kafka broker for {data_dir}, so this "
            f"{action} did nothing. Wait for it, then check with 'wxstream kafka status'."
        ) from None


def new_cluster_id() -> str:
    """Return 16 random bytes as URL-safe base64 without padding, not starting with '-'.

    A leading '-' would make the storage tool read the id as an option, so such ids are
    drawn again, as Kafka's own ``random-uuid`` does.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


_MAVEN_BOILERPLATE = ("To see the full", "Re-run Maven", "For more information", "[Help 1] http")


def _maven_errors(output: list[str], limit: int = 5) -> str:
    """Select the informative ``[ERROR]`` lines of Maven's output, else its last lines."""
    errors = [
        line
        for line in output
        if line.startswith("[ERROR]")
        and line.removeprefix("[ERROR]").strip()
        and not any(text in line for text in _MAVEN_BOILERPLATE)
    ]
    chosen = errors[:limit] or output[-limit:]
    return "\n".join(f"  {line}" for line in chosen)


_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""
