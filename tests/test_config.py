"""Config validation: every kind of error names its key path, overrides are checked alike."""

import dataclasses
from pathlib import Path
from typing import Literal

import pytest
import yaml

from statjax.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_yaml,
    config_to_yaml,
    import_experiment,
    parse_config,
    parse_override,
    setting,
)

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampler:
    kind: Literal["mala", "hmc"] = setting("mala", help="the kernel")
    step_size: float = setting(1e-3, gt=0, help="time step")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudyConfig(ExperimentConfig):
    temperatures: tuple[float, ...] = setting(gt=0, min_length=1, help="T = 1 / beta")
    num_steps: int = setting(ge=1, help="sampler steps")
    verbose: bool = False
    box: tuple[float, float] = (0.0, 1.0)
    label: str | None = None
    sampler: Sampler = setting(Sampler())

    def validate(self) -> None:
        if self.num_steps % len(self.temperatures):
            raise ConfigError("num_steps", self.num_steps, "a multiple of len(temperatures)")


def _raw(**changes):
    raw = {
        "name": "study",
        "experiment": "my.study",
        "temperatures": [10.0, 20.0],
        "num_steps": 100,
        "sampler": {"kind": "mala", "step_size": 0.01},
    }
    raw.update(changes)
    return raw


def _error(raw, schema=StudyConfig) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, schema)
    return info.value


def test_valid_config_is_typed_and_frozen():
    config = parse_config(_raw(temperatures=[10, 20]), StudyConfig)
    assert config.temperatures == (10.0, 20.0)
    assert all(type(t) is float for t in config.temperatures)
    assert config.sampler == Sampler(kind="mala", step_size=0.01)
    assert (config.seed, config.output_dir) == (0, "runs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.num_steps = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        (_raw(num_step=10), "num_step", ["unknown key", "did you mean `num_steps`"]),
        (
            _raw(sampler={"stepsize": 0.1}),
            "sampler.stepsize",
            ["unknown key", "did you mean `step_size`"],
        ),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(raw, key, words):
    error = _error(raw)
    assert error.key == key
    assert f"`{key}`" in str(error)
    for word in words:
        assert word in str(error)


def test_missing_required_key_is_named():
    raw = _raw()
    del raw["num_steps"]
    error = _error(raw)
    assert error.key == "num_steps"
    assert "missing required key" in str(error) and "an integer >= 1" in str(error)


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"num_steps": "many"}, "num_steps", "an integer"),
        ({"num_steps": 2.5}, "num_steps", "an integer"),
        ({"num_steps": True}, "num_steps", "an integer"),
        ({"temperatures": 20.0}, "temperatures", "a list of numbers"),
        ({"temperatures": [10.0, "hot"]}, "temperatures[1]", "a number"),
        ({"sampler": {"step_size": "fast"}}, "sampler.step_size", "a number > 0"),
        ({"sampler": 0.1}, "sampler", "a mapping with keys kind, step_size"),
        ({"verbose": "yes"}, "verbose", "true or false"),
        ({"box": [0.0, 1.0, 2.0]}, "box", "a list of 2"),
        ({"label": 3}, "label", "a string or null"),
        ({"name": ["a"]}, "name", "a string"),
    ],
)
def test_wrong_type_names_key_value_and_expectation(changes, key, expected):
    error = _error(_raw(**changes))
    assert error.key == key
    assert f"`{key}`" in str(error)
    assert expected in str(error)
    assert repr(error.value)[:20] in str(error)


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({"temperatures": [10.0, 0.0]}, "temperatures[1]", "> 0"),
        ({"temperatures": [-5.0]}, "temperatures[0]", "> 0"),
        ({"temperatures": []}, "temperatures", "at least 1"),
        ({"num_steps": -5}, "num_steps", ">= 1"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"checkpoint_every": 0}, "checkpoint_every", ">= 1"),
        ({"sampler": {"step_size": 0.0}}, "sampler.step_size", "> 0"),
        ({"sampler": {"kind": "nuts"}}, "sampler.kind", "one of 'mala', 'hmc'"),
        ({"name": "a/b"}, "name", "matching"),
        ({"temperatures": [float("nan")]}, "temperatures[0]", "> 0"),
        ({"num_steps": 101}, "num_steps", "a multiple of len(temperatures)"),
    ],
)
def test_impossible_value_names_key_value_and_expectation(changes, key, expected):
    error = _error(_raw(**changes))
    assert error.key == key
    assert f"config key `{key}`" in str(error)
    assert expected in str(error)
    assert repr(error.value)[:20] in str(error)


def test_numbers_yaml_reads_as_strings_are_numbers():
    # YAML 1.1 reads `1e-3` (no dot) as a string; where a number is expected it is one.
    raw = yaml.safe_load("step_size: 1e-3")
    assert raw == {"step_size": "1e-3"}
    assert parse_config(raw, Sampler).step_size == 1e-3
    assert parse_config(_raw(num_steps="2e2"), StudyConfig).num_steps == 200


def test_overrides_are_parsed_as_yaml_and_validated():
    raw = _raw()
    overrides = [
        "sampler.step_size=2e-3",
        "temperatures=[5, 15]",
        "temperatures.1=25",
        "seed=7",
        "label=hello world",
        "verbose=true",
    ]
    config = parse_config(apply_overrides(raw, overrides), StudyConfig)
    assert config.sampler.step_size == 2e-3
    assert config.temperatures == (5.0, 25.0)
    assert (config.seed, config.label, config.verbose) == (7, "hello world", True)
    assert raw["sampler"]["step_size"] == 0.01, "the raw mapping itself is not changed"


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("sampler.step_size=-1", "sampler.step_size", ["> 0", "-1"]),
        ("sampler.stepsize=0.1", "sampler.stepsize", ["unknown key"]),
        ("grid.num_points=10", "grid", ["unknown key"]),
        ("temperatures.0=0", "temperatures[0]", ["> 0"]),
        ("seed=[1, 2]", "seed", ["an integer"]),
    ],
)
def test_bad_override_names_the_key(override, key, words):
    error = _error(apply_overrides(_raw(), [override]))
    assert error.key == key
    for word in words:
        assert word in str(error)


@pytest.mark.parametrize(
    ("override", "key"),
    [("num_steps", "num_steps"), ("=3", ""), ("num_steps.x=3", "num_steps.x"), ("seed=[1", "seed")],
)
def test_malformed_override_is_a_config_error(override, key):
    with pytest.raises(ConfigError) as info:
        apply_overrides(_raw(), [override])
    assert info.value.key == key
    assert override in str(info.value) or "cannot parse" in str(info.value)


def test_parse_override_splits_at_the_first_equals_sign():
    assert parse_override("label=a=b") == ("label", "a=b")
    assert parse_override("label=") == ("label", None)


def test_yaml_round_trip_gives_an_equal_config():
    config = parse_config(_raw(label="x", temperatures=[1.5, 1e-7]), StudyConfig)
    text = config_to_yaml(config)
    assert config_from_yaml(text, schema=StudyConfig) == config


def test_yaml_errors_name_the_source():
    with pytest.raises(ConfigError, match=r"study\.yaml is not valid YAML"):
        config_from_yaml("a: [1,", schema=StudyConfig, source="study.yaml")
    with pytest.raises(ConfigError, match="a mapping of keys to values"):
        config_from_yaml("- 1\n- 2\n", schema=StudyConfig)


def test_experiment_key_is_checked_by_importing_it():
    with pytest.raises(ConfigError) as info:
        config_from_yaml("name: x\n")
    assert info.value.key == "experiment" and "missing" in str(info.value)
    with pytest.raises(ConfigError) as info:
        config_from_yaml("name: x\nexperiment: no_such_package_xyz.study\n")
    assert info.value.key == "experiment" and "no_such_package_xyz" in str(info.value)
    with pytest.raises(ConfigError, match="has no `Config`"):
        import_experiment("json")


def test_landscape_config_validates(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    text = (REPO / "configs" / "landscape.yaml").read_text()
    config = config_from_yaml(text, ["num_chains=16"])
    assert config.num_chains == 16 and config.name == "landscape"
    with pytest.raises(ConfigError) as info:
        config_from_yaml(text, ["chunk_size=333"])
    assert info.value.key == "chunk_size" and "multiple of thin" in str(info.value)
    with pytest.raises(ConfigError) as info:
        config_from_yaml(text, ["grid.upper=[2.5, -2.0]"])
    assert info.value.key == "grid.upper"


def test_every_experiment_config_has_a_devices_section():
    default = parse_config(_raw(), StudyConfig)
    assert (default.devices.count, default.devices.replicas) == (0, 1)
    config = parse_config(
        apply_overrides(_raw(), ["devices.count=4", "devices.replicas=2"]), StudyConfig
    )
    assert (config.devices.count, config.devices.replicas) == (4, 2)
    error = _error(apply_overrides(_raw(), ["devices.count=4", "devices.replicas=3"]))
    assert "devices.replicas" in str(error)
