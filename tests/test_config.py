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


# ------------------------------------------------------------------ complete validation


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bounds:
    lower: float = setting(0.0, help="may not be infinite")
    upper: float = setting(float("inf"), allow_inf=True, help="may be .inf")


def _study_yaml(*lines: str) -> str:
    return (
        "\n".join(
            [
                "name: study",
                "experiment: my.study",
                "temperatures: [10, 20]",
                "num_steps: 100",
                *lines,
            ]
        )
        + "\n"
    )


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("temperatures=[.inf, 1]", "temperatures[0]"),
        ("temperatures.1=1e400", "temperatures[1]"),
        ("sampler.step_size=-.inf", "sampler.step_size"),
        ("box=[0, .nan]", "box[1]"),
    ],
)
def test_infinite_or_nan_numbers_are_refused_at_load_time(override, key):
    with pytest.raises(ConfigError) as info:
        config_from_yaml(_study_yaml(), [override], schema=StudyConfig)
    assert info.value.key == key and f"config key `{key}`" in str(info.value)


def test_a_setting_may_allow_infinity():
    assert parse_config(yaml.safe_load("upper: .inf"), Bounds) == Bounds()
    assert parse_config({"upper": "1e400"}, Bounds).upper == float("inf")
    with pytest.raises(ConfigError, match=r"config key `lower`: got -inf .* infinite"):
        parse_config({"lower": float("-inf")}, Bounds)


@pytest.mark.parametrize(
    ("seed", "words"),
    [
        (2**64, "outside the 64-bit integer range"),
        (2**32, "<= 4294967295"),
        (-1, ">= 0"),
    ],
)
def test_a_seed_must_fit_an_unsigned_32_bit_integer(seed, words):
    with pytest.raises(ConfigError, match=f"config key `seed`.*{words}"):
        config_from_yaml(_study_yaml(), [f"seed={seed}"], schema=StudyConfig)
    top = config_from_yaml(_study_yaml(), [f"seed={2**32 - 1}"], schema=StudyConfig).seed
    assert top == 2**32 - 1


def test_integers_beyond_64_bits_are_refused():
    with pytest.raises(ConfigError, match=r"config key `num_steps`.*64-bit"):
        config_from_yaml(_study_yaml(), [f"num_steps={2**70}"], schema=StudyConfig)


def test_a_billion_laughs_is_refused_before_it_expands():
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        levels.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    text = _study_yaml(*levels)
    assert len(text) < 1500  # ~9**9 = 387 million strings once expanded
    with pytest.raises(ConfigError, match="expands to more than 100000 values"):
        config_from_yaml(text, schema=StudyConfig)
    with pytest.raises(ConfigError, match=r"config key `label`.*expands to more than"):
        parse_override("label={" + ", ".join(levels) + "}")


def test_a_recursive_alias_is_refused():
    with pytest.raises(ConfigError, match="refers to itself"):
        config_from_yaml(_study_yaml("label: &loop [1, *loop]"), schema=StudyConfig)


def test_an_override_that_breaks_a_check_across_keys_is_named():
    """`--set temperatures=[...]` breaks `num_steps % len(temperatures)`: the message names it."""
    with pytest.raises(ConfigError) as info:
        config_from_yaml(_study_yaml(), ["temperatures=[1, 2, 3]"], schema=StudyConfig)
    assert info.value.key == "temperatures"
    assert str(info.value).startswith(
        "config key `temperatures`: --set temperatures=[1, 2, 3] conflicts with `num_steps`"
    )
    with pytest.raises(ConfigError) as info:  # the key the user set is the one checked
        config_from_yaml(_study_yaml(), ["num_steps=101"], schema=StudyConfig)
    assert info.value.key == "num_steps"


def test_a_config_that_is_not_utf8_is_named(tmp_path):
    from statjax.runs import read_config

    path = tmp_path / "latin1.yaml"
    path.write_bytes(_study_yaml("label: caf\xe9").encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml is not UTF-8 text \(byte 0xe9 at offset"):
        read_config(path)


def test_an_empty_output_dir_is_refused():
    with pytest.raises(ConfigError, match="config key `output_dir`"):
        config_from_yaml(_study_yaml("output_dir: ' '"), schema=StudyConfig)
