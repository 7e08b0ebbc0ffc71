"""Configuration: defaults, every variable's bad values, and one clear message naming it."""

from pathlib import Path

import pytest

from node.config import ConfigError, Peer, load_config

BASE = {"NODE_ID": "node1", "PEERS": "node2:5000,node3:5000"}


def test_defaults() -> None:
    config = load_config(BASE)
    assert config.node_id == "node1"
    assert config.peers == (Peer("node2", "node2", 5000), Peer("node3", "node3", 5000))
    assert (config.min_clock_rate, config.max_clock_rate, config.max_event_num) == (1, 6, 10)
    assert config.duration == 60
    assert config.seed is None
    assert config.run_id is None
    assert config.clock_rate is None
    assert config.log_dir == Path("logs")


def test_peers_are_sorted_and_may_name_an_id() -> None:
    config = load_config({**BASE, "PEERS": "zed@10.0.0.9:7000, alpha:5000"})
    assert config.peer_ids == ("alpha", "zed")
    assert config.peers[1] == Peer("zed", "10.0.0.9", 7000)


def test_values_are_parsed() -> None:
    env = {
        **BASE,
        "MIN_CLOCK_RATE": "2",
        "MAX_CLOCK_RATE": "2",
        "MAX_EVENT_NUM": "5",
        "DURATION": "0",
        "SEED": "42",
        "CLOCK_RATE": "6",
        "RUN_ID": "exp-1",
        "LOG_DIR": "/tmp/x",
        "PORT": "6000",
    }
    config = load_config(env)
    assert (config.min_clock_rate, config.max_clock_rate, config.max_event_num) == (2, 2, 5)
    assert (config.duration, config.seed, config.clock_rate, config.run_id, config.port) == (0, 42, 6, "exp-1", 6000)


def test_empty_values_mean_default() -> None:
    config = load_config({**BASE, "SEED": "", "RUN_ID": " ", "CLOCK_RATE": "", "DURATION": ""})
    assert config.seed is None
    assert config.run_id is None
    assert config.clock_rate is None
    assert config.duration == 60


@pytest.mark.parametrize(
    ("overrides", "variable", "fragment"),
    [
        ({"NODE_ID": ""}, "NODE_ID", "required"),
        ({"NODE_ID": "no spaces"}, "NODE_ID", "letters"),
        ({"PEERS": ""}, "PEERS", "required"),
        ({"PEERS": "node2"}, "PEERS", "host:port"),
        ({"PEERS": "node2:5000;node3:5000"}, "PEERS", "host:port"),
        ({"PEERS": "node2:99999"}, "PEERS", "port"),
        ({"PEERS": "node1:5000,node2:5000"}, "PEERS", "own peer"),
        ({"PEERS": "node2:5000,node2:5001"}, "PEERS", "twice"),
        ({"PORT": "0"}, "PORT", "1 to 65535"),
        ({"PORT": "http"}, "PORT", "integer"),
        ({"MIN_CLOCK_RATE": "0"}, "MIN_CLOCK_RATE", "from 1"),
        ({"MAX_CLOCK_RATE": "0"}, "MAX_CLOCK_RATE", "from 1"),
        ({"MAX_CLOCK_RATE": "2.5"}, "MAX_CLOCK_RATE", "integer"),
        ({"MIN_CLOCK_RATE": "5", "MAX_CLOCK_RATE": "2"}, "MIN_CLOCK_RATE", "must not exceed MAX_CLOCK_RATE"),
        ({"CLOCK_RATE": "0"}, "CLOCK_RATE", "from 1"),
        ({"MAX_EVENT_NUM": "2"}, "MAX_EVENT_NUM", "from 3"),
        ({"MAX_EVENT_NUM": "ten"}, "MAX_EVENT_NUM", "integer"),
        ({"DURATION": "-1"}, "DURATION", "seconds"),
        ({"DURATION": "nan"}, "DURATION", "seconds"),
        ({"DURATION": "1m"}, "DURATION", "seconds"),
        ({"SEED": "-3"}, "SEED", "integer"),
        ({"SEED": "abc"}, "SEED", "integer"),
        ({"RUN_ID": "../escape"}, "RUN_ID", "letters"),
        ({"RUN_ID": "latest"}, "RUN_ID", "reserved"),
        ({"RUN_ID": "Latest"}, "RUN_ID", "reserved"),
        ({"COMPOSE_PROJECT_NAME": "Upper"}, "COMPOSE_PROJECT_NAME", "lowercase"),
        ({"COMPOSE_PROJECT_NAME": "a/b"}, "COMPOSE_PROJECT_NAME", "lowercase"),
        ({"MAX_CLOCK_RATE": "1000000", "DURATION": "1000"}, "DURATION", "could take a Lamport clock to"),
        ({"START_TIMEOUT": "0"}, "START_TIMEOUT", "seconds"),
        ({"DRAIN_TIMEOUT": "x"}, "DRAIN_TIMEOUT", "seconds"),
        ({"STATUS_INTERVAL": "-5"}, "STATUS_INTERVAL", "seconds"),
        ({"MAX_QUEUE": "0"}, "MAX_QUEUE", "from 1"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, str], variable: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE, **overrides})
    message = str(caught.value)
    assert caught.value.variable == variable
    assert message.startswith(f"{variable}=")
    assert fragment in message
    assert "\n" not in message


def test_max_event_num_must_cover_every_peer() -> None:
    """With four peers, draws 1..5 are sends: MAX_EVENT_NUM=4 cannot express the rule."""
    env = {**BASE, "PEERS": "a:1,b:1,c:1,d:1", "MAX_EVENT_NUM": "4"}
    with pytest.raises(ConfigError, match="from 5"):
        load_config(env)


def test_log_fields_are_json_friendly() -> None:
    import json

    fields = load_config(BASE).as_log_fields()
    assert json.loads(json.dumps(fields))["peers"] == ["node2@node2:5000", "node3@node3:5000"]


ROOT = Path(__file__).resolve().parents[2]


def test_every_default_is_defined_once_and_the_files_agree() -> None:
    """.env, docker-compose.yml's ${VAR:-default} fallbacks and the node's DEFAULTS are one set."""
    import re

    from node.config import DEFAULTS

    env_file = dict(
        line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines() if line and not line.startswith("#")
    )
    for name, value in DEFAULTS.items():
        if name != "PORT":
            assert env_file[name] == value, name
    compose = (ROOT / "docker-compose.yml").read_text()
    fallbacks = dict(re.findall(r"\$\{([A-Z_]+):-([^}$]*)\}", compose))
    for name, value in fallbacks.items():
        if name in DEFAULTS:
            assert value == DEFAULTS[name], name
    assert f'PORT: "{DEFAULTS["PORT"]}"' in compose


def test_network_delay_is_validated_and_overridden_per_node() -> None:
    from node.config import node_environment

    config = load_config({**BASE, "NET_DELAY_MS": "20", "NET_JITTER_MS": "2.5"})
    assert (config.net_delay_ms, config.net_jitter_ms) == (20.0, 2.5)
    assert (load_config(BASE).net_delay_ms, load_config(BASE).net_jitter_ms) == (0.0, 0.0)
    for bad in ("-1", "soon", "nan", "60001"):
        with pytest.raises(ConfigError, match=r"NET_DELAY_MS=.*must be a number of milliseconds from 0 to 60000"):
            load_config({**BASE, "NET_DELAY_MS": bad})
    shared = {"NET_DELAY_MS": "20", "NODE2_NET_DELAY_MS": "50", "NODE1_CLOCK_RATE": "3", "NODE3_NET_JITTER_MS": ""}
    assert node_environment(shared, "node1") == {"NET_DELAY_MS": "20", "CLOCK_RATE": "3"}
    assert node_environment(shared, "node2") == {"NET_DELAY_MS": "50"}
    assert node_environment(shared, "node3") == {"NET_DELAY_MS": "20"}  # empty: not set, as in compose


def test_clock_range_is_checked_against_every_nodes_events() -> None:
    """Issue 12: N nodes x the highest rate x DURATION must stay within half the 32-bit clock."""
    from node.config import CLOCK_BUDGET, clock_range_error

    assert CLOCK_BUDGET == 2_147_483_647
    edge = CLOCK_BUDGET // 300  # 3 nodes at 100 ticks/s: the longest run that fits
    assert 3 * 100 * edge <= CLOCK_BUDGET < 3 * 100 * (edge + 1)
    assert load_config({**BASE, "MAX_CLOCK_RATE": "100", "DURATION": str(edge)}).duration == edge
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE, "MAX_CLOCK_RATE": "100", "DURATION": str(edge + 1)})
    assert str(caught.value) == (
        f"DURATION='{edge + 1}': 3 nodes x 100 ticks/s x {edge + 1:,} s could take a Lamport clock to "
        "2,147,483,700, past 2,147,483,647 (half the 32-bit clock's range): shorten DURATION or lower the rates"
    )
    # A pinned rate above MAX_CLOCK_RATE counts; so does every peer; DURATION=0 has no end to check.
    with pytest.raises(ConfigError, match="3 nodes x 1,000,000 ticks/s"):
        load_config({**BASE, "CLOCK_RATE": "1000000", "DURATION": "716"})
    assert load_config({**BASE, "CLOCK_RATE": "1000000", "DURATION": "715"}).clock_rate == 1_000_000
    assert load_config({**BASE, "CLOCK_RATE": "1000000", "DURATION": "0"}).duration == 0
    assert clock_range_error(64, 10_000, 3600) is not None
    assert clock_range_error(3, 6, 366 * 86400) is None  # the default rates: a year fits easily


def test_compose_project_name_is_read_for_the_run_link() -> None:
    assert load_config({**BASE, "COMPOSE_PROJECT_NAME": "lamport_1-x"}).project == "lamport_1-x"
    assert load_config({**BASE, "COMPOSE_PROJECT_NAME": ""}).project is None
    assert load_config(BASE).project is None


def test_every_service_of_a_project_meets_at_the_same_run_link() -> None:
    """init and the nodes (through x-node-environment) get COMPOSE_PROJECT_NAME; the summary
    analyses the link they share (tests/integration/test_node_failure.py runs it for real)."""
    from node.runfolder import project_link

    compose = (ROOT / "docker-compose.yml").read_text()
    passed = '      COMPOSE_PROJECT_NAME: "${COMPOSE_PROJECT_NAME:-}"'
    init = compose[compose.index("  init:") : compose.index("  node1:")]
    nodes = compose[compose.index("x-node-environment:") : compose.index("x-node:")]
    assert passed in init
    assert passed.strip() in nodes
    assert f'    command: ["{project_link("${COMPOSE_PROJECT_NAME}")}"]' in compose


def test_generated_compose_files_keep_the_failure_path() -> None:
    """scripts/compose_nodes.py in step with docker-compose.yml: the summary after every node
    whatever its exit code, and `result` requiring them all (README: when a node fails)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("compose_nodes", ROOT / "scripts" / "compose_nodes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render(4)
    summary = text[text.index("  summary:") : text.index("  result:")]
    result = text[text.index("  result:") : text.index("  analysis:")]
    for node in ("node1", "node2", "node3", "node4"):
        assert f"      {node}: {{condition: service_completed_successfully, required: false}}" in summary
        assert f"      {node}: {{condition: service_completed_successfully}}" in result
    assert "      summary: {condition: service_completed_successfully}" in result
    compose = (ROOT / "docker-compose.yml").read_text()
    assert compose.count("{condition: service_completed_successfully, required: false}") == 3
