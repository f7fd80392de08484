"""Experiment configs: YAML in, a typed and frozen dataclass out, or an error naming the key.

Every experiment declares its own schema as a frozen dataclass that extends
:class:`ExperimentConfig`, whose fields (``name``, ``experiment``, ``seed``,
``output_dir``, ``checkpoint_every``, ...) every run shares. The experiment's own
settings sit beside them at the top level of the YAML file, nested sections are
nested dataclasses, and constraints (``> 0``, a choice among names) are declared
on the fields with :func:`setting`:

.. code-block:: python

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Sampler:
        step_size: float = setting(5e-4, gt=0, help="MALA time step")

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Config(ExperimentConfig):
        temperatures: tuple[float, ...] = setting(gt=0, min_length=1, help="T = 1 / beta")
        sampler: Sampler = Sampler()

:func:`parse_config` checks a raw mapping against such a schema *before any
work is done*: an unknown key, a missing required key, a value of the wrong type
or an impossible value raises :class:`ConfigError`, whose message names the key
path (``sampler.step_size``, ``temperatures[2]``), the value, and what was
expected. :func:`apply_overrides` applies ``--set key.path=value`` overrides
(values parsed as YAML) to the raw mapping first, so they are checked the same
way. This module is pure: it reads no files and prints nothing (the command
line and :mod:`statjax.runs` do the I/O).
"""

import dataclasses
import difflib
import importlib
import importlib.util
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

import yaml

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "MissingDependencyError",
    "apply_overrides",
    "config_from_yaml",
    "config_to_dict",
    "config_to_yaml",
    "import_experiment",
    "parse_config",
    "parse_override",
    "setting",
]

ConfigT = TypeVar("ConfigT")

_MISSING = dataclasses.MISSING
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A config is a few hundred values; YAML aliases (&a / *a) can make a 1 KB file stand
# for billions ("billion laughs"). The expanded size is counted before any copy.
MAX_CONFIG_VALUES = 100_000
_FLOAT_LITERAL = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A config that cannot run: names the key path, the value and what was expected.

    Attributes:
        key: the dotted key path (``"sampler.step_size"``, ``"temperatures[1]"``);
            ``""`` for the document as a whole.
        value: the offending value (``None`` for a missing key).
        expected: what would have been accepted, in words.
    """

    cross_key = False  # raised by a ``validate`` method (a check across several keys)

    def __init__(self, key: str, value: Any, expected: str, *, problem: str | None = None):
        self.key, self.value, self.expected, self.problem = key, value, expected, problem
        where = f"config key `{key}`" if key else "config"
        what = problem if problem is not None else f"got {_show(value)}"
        super().__init__(f"{where}: {what}; expected {expected}.")

    def under(self, prefix: str) -> "ConfigError":
        """The same error with its key path nested under ``prefix``."""
        key = _join(prefix, self.key) if not self.key.startswith("[") else prefix + self.key
        return ConfigError(key, self.value, self.expected, problem=self.problem)


class MissingDependencyError(ConfigError):
    """An experiment needs a package that is not installed; the message says how to install it.

    Attributes:
        module: the import name that is missing (``"sklearn"``).
        package: the name to install (``"scikit-learn"``).
    """

    def __init__(self, experiment: str, module: str):
        package = _PIP_NAMES.get(module, module)
        self.key, self.value, self.problem = "experiment", experiment, None
        self.expected = f"the package {package} installed"
        self.module, self.package = module, package
        ValueError.__init__(
            self,
            f"experiment {experiment} needs the package {package} (module {module}), which is "
            f"not installed: pip install {package}",
        )


# Import names whose package is installed under another name.
_PIP_NAMES = {
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "neal": "dwave-neal",
    "skimage": "scikit-image",
}


def setting(
    default: Any = _MISSING,
    *,
    help: str = "",
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    allow_inf: bool = False,
) -> Any:
    """A dataclass field with a description and constraints that :func:`parse_config` checks.

    Bounds apply to a number, or to every element of a tuple of numbers;
    ``min_length`` to a tuple; ``pattern`` (a regular expression matched in full)
    to a string. A field without ``default`` is a required key. A mutable default
    (a nested config) is fine: configs are frozen.

    Args:
        default: the value when the key is absent; omit for a required key.
        help: one line that error messages quote: what the value means, its unit.
        gt: strict lower bound.
        ge: non-strict lower bound.
        lt: strict upper bound.
        le: non-strict upper bound.
        min_length: fewest elements of a tuple.
        pattern: a regular expression that a string must match in full.
        allow_inf: whether a number may be infinite (``.inf``, ``-.inf``, or a literal
            such as ``1e400`` that overflows to it); by default numbers must be finite.

    Examples:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Sampler:
        ...     step_size: float = setting(1e-3, gt=0, help="MALA time step")
        >>> parse_config({"step_size": 2e-3}, Sampler)
        Sampler(step_size=0.002)
    """
    metadata = {
        "help": help,
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "min_length": min_length,
        "pattern": pattern,
        "allow_inf": allow_inf,
    }
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    if dataclasses.is_dataclass(default) or isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DevicesConfig:
    """The ``devices:`` section of an experiment config (a nested config dataclass).

    Every :class:`ExperimentConfig` has one (``devices:`` in YAML, all keys
    optional); an experiment builds its mesh with
    :func:`statjax.parallel.mesh_from_config`, and the run's ``summary.json``
    records :func:`statjax.parallel.device_summary`. The defaults (all devices,
    no replica split, one process) leave a one-device run exactly as it was.

    Examples:
        >>> from statjax.config import parse_config
        >>> parse_config({"count": 2, "replicas": 2}, DevicesConfig)
        DevicesConfig(count=2, replicas=2, distributed=False)
    """

    count: int = setting(0, ge=0, help="devices to use, the first ones; 0 = all (of all hosts)")
    replicas: int = setting(1, ge=1, help="size of the mesh's replica axis (split PT ladders)")
    distributed: bool = setting(
        False, help="call statjax.parallel.initialize() first (several hosts; reads STATJAX_*)"
    )

    def validate(self) -> None:
        """``replicas`` must divide ``count`` (checked again against the real devices)."""
        if self.count and self.count % self.replicas:
            raise ConfigError("replicas", self.replicas, f"a divisor of count ({self.count})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """The settings every experiment shares; an experiment's ``Config`` extends it.

    Subclass with ``@dataclasses.dataclass(frozen=True, kw_only=True)`` (keyword
    fields, so that required fields may follow these defaults) and add the
    experiment's own fields. A class may define ``validate(self)`` for checks
    that involve several fields; it raises :class:`ConfigError` with a key path
    relative to that class.

    Examples:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Config(ExperimentConfig):
        ...     num_steps: int = setting(ge=1, help="sampler steps")
        >>> config = parse_config(
        ...     {"name": "demo", "experiment": "experiments.demo", "num_steps": 10}, Config
        ... )
        >>> config.num_steps, config.seed
        (10, 0)
    """

    name: str = setting(
        pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
        help="run name: letters, digits, '_', '.', '-' (the run folder is OUTPUT_DIR/NAME/...)",
    )
    experiment: str = setting(
        pattern=r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*",
        help="import path of the experiment module, e.g. experiments.landscape",
    )
    description: str = setting("", help="one line on what the run measures (shown by list)")
    # jax.random.key takes any int64, but seeds also go to numpy and scikit-learn
    # (random_state), which take 0 <= seed < 2**32: the range that works everywhere.
    seed: int = setting(
        0, ge=0, le=2**32 - 1, help="seed of the run's PRNG key, an unsigned 32-bit integer"
    )
    output_dir: str = setting(
        "runs", pattern=r"(?s).*\S.*", help="folder under which runs/NAME/TIMESTAMP is made"
    )
    checkpoint_every: int = setting(
        1000, ge=1, help="steps between checkpoints (the experiment states its unit)"
    )
    devices: DevicesConfig = setting(DevicesConfig(), help="devices and mesh (see docs/scaling.md)")


# ------------------------------------------------------------------ parsing


def parse_config(raw: Any, schema: type[ConfigT], *, key: str = "") -> ConfigT:
    """Check ``raw`` (a mapping from YAML) against the dataclass ``schema``; return an instance.

    Lists become tuples, integers given for floats become floats, and strings
    such as ``1e-3`` (which YAML 1.1 leaves as text) are read as numbers where a
    number is expected. Every field's constraints (:func:`setting`) and every
    class's ``validate`` method are checked.

    Args:
        raw: a mapping of keys to values, as ``yaml.safe_load`` returns it.
        schema: a dataclass type, usually a subclass of :class:`ExperimentConfig`.
        key: the key path of ``raw`` itself (for nested calls and messages).

    Returns:
        A frozen instance of ``schema``.

    Raises:
        ConfigError: naming the first key path that is unknown, missing, of the
            wrong type or out of range.

    Examples:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Grid:
        ...     num_points: int = setting(100, ge=2)
        >>> parse_config({"num_points": 1}, Grid)
        Traceback (most recent call last):
        ...
        statjax.config.ConfigError: config key `num_points`: got 1 (int); expected an integer >= 2.
    """
    if not dataclasses.is_dataclass(schema):
        raise TypeError(f"schema must be a dataclass type, got {schema!r}.")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(key, raw, f"a mapping with keys {_describe_fields(schema)}")
    fields = {field.name: field for field in dataclasses.fields(schema) if field.init}
    for name in raw:
        if name not in fields:
            raise ConfigError(
                _join(key, str(name)),
                raw[name],
                f"one of the keys {_describe_fields(schema)}{_suggest(str(name), fields)}",
                problem=f"unknown key (value {_show(raw[name])})",
            )
    hints = typing.get_type_hints(schema)
    values = {}
    for name, field in fields.items():
        path = _join(key, name)
        if name in raw:
            values[name] = _parse_value(raw[name], hints[name], field.metadata, path)
        elif field.default is _MISSING and field.default_factory is _MISSING:
            raise ConfigError(
                path,
                None,
                _expectation(hints[name], field.metadata),
                problem="missing required key",
            )
    config = schema(**values)
    validate = getattr(config, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as error:
            nested = error.under(key) if key else error
            nested.cross_key = True  # a check across keys: an override may be to blame
            raise nested from None
    return config


def _parse_value(value: Any, annotation: Any, metadata: Mapping, path: str) -> Any:
    """``value`` converted to ``annotation``, with ``metadata``'s constraints checked."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    expected = _expectation(annotation, metadata)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return parse_config(value, annotation, key=path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        for option in options:
            try:
                return _parse_value(value, option, metadata, path)
            except ConfigError as error:
                if error.key != path:  # deeper inside a section: that error is the useful one
                    raise
        raise ConfigError(path, value, expected)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise ConfigError(path, value, expected + _suggest(str(value), map(str, args)))
        return value
    if origin is tuple:
        return _parse_tuple(value, args, metadata, path, expected)
    if annotation in (int, float, bool, str):
        converted = _parse_scalar(value, annotation)
        if converted is None:
            raise ConfigError(path, value, expected)
        if isinstance(converted, float) and math.isinf(converted) and not metadata.get("allow_inf"):
            raise ConfigError(
                path,
                value,
                expected,
                problem=f"got {_show(value)}, which is infinite (or too large for a float)",
            )
        if isinstance(converted, int) and not _INT64_MIN <= converted <= _INT64_MAX:
            raise ConfigError(
                path,
                value,
                expected,
                problem=f"got {value}, outside the 64-bit integer range [-2**63, 2**63 - 1]",
            )
        _check_constraints(converted, metadata, path, expected)
        return converted
    if annotation is Any:
        return value
    raise TypeError(f"config field `{path}` has an unsupported type {annotation!r}.")


def _parse_tuple(value, args, metadata, path, expected) -> tuple:
    if not isinstance(value, list | tuple):
        raise ConfigError(path, value, expected)
    if len(args) == 2 and args[1] is Ellipsis:
        item_types = (args[0],) * len(value)
    else:
        if len(value) != len(args):
            raise ConfigError(path, value, expected)
        item_types = args
    min_length = metadata.get("min_length")
    if min_length is not None and len(value) < min_length:
        raise ConfigError(path, value, expected)
    item_metadata = {k: v for k, v in metadata.items() if k != "min_length"}
    return tuple(
        _parse_value(item, item_type, item_metadata, f"{path}[{index}]")
        for index, (item, item_type) in enumerate(zip(value, item_types, strict=True))
    )


def _parse_scalar(value: Any, kind: type) -> Any:
    """``value`` as ``kind``, or ``None`` if it is not one (bool is never a number)."""
    if kind is bool or kind is str:
        return value if type(value) is kind else None
    if isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
        # YAML 1.1 reads `1e-3` (no dot) as a string; a number was clearly meant.
        value = float(value.replace("_", ""))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is float:
        return float(value)
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            return None
        return int(value)
    return value


def _check_constraints(value: Any, metadata: Mapping, path: str, expected: str) -> None:
    bounds = {
        "gt": lambda v, b: v > b,
        "ge": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "le": lambda v, b: v <= b,
    }
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(path, value, expected)
        for name, holds in bounds.items():
            bound = metadata.get(name)
            if bound is not None and not holds(value, bound):
                raise ConfigError(path, value, expected)
    pattern = metadata.get("pattern")
    if isinstance(value, str) and pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(path, value, expected)


def _expectation(annotation: Any, metadata: Mapping) -> str:
    """``annotation`` and its constraints in words: 'a number > 0 (MALA time step)'."""
    text = _type_words(annotation)
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    limits = [f"{symbols[k]} {metadata[k]}" for k in symbols if metadata.get(k) is not None]
    origin = typing.get_origin(annotation)
    if limits:
        text += (" each " if origin is tuple else " ") + " and ".join(limits)
    if metadata.get("min_length"):
        text += f", at least {metadata['min_length']} of them"
    if metadata.get("pattern"):
        text += f" matching {metadata['pattern']}"
    if metadata.get("help"):
        text += f" ({metadata['help']})"
    return text


def _type_words(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return f"a mapping with keys {_describe_fields(annotation)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_words(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _type_words(args[0])
            article, _, noun = item.partition(" ")
            if article in ("a", "an") and " " not in noun:  # a number -> a list of numbers
                return f"a list of {noun}s"
            return f"a list, each {item}"
        return f"a list of {len(args)}: " + ", ".join(_type_words(a) for a in args)
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        annotation, repr(annotation)
    )


def _describe_fields(schema: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(schema) if f.init)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})" if value is not None else "null"


# ------------------------------------------------------------------ overrides


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"key.path=value"`` and parse the value as YAML (``yaml.safe_load``).

    Examples:
        >>> parse_override("sampler.step_size=0.001")
        ('sampler.step_size', 0.001)
        >>> parse_override("temperatures=[10, 20]")
        ('temperatures', [10, 20])
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            key,
            text,
            "an override of the form key.path=value, e.g. sampler.step_size=0.001",
            problem=f"malformed override {text!r}",
        )
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except (yaml.YAMLError, RecursionError) as error:
        raise ConfigError(
            key,
            value_text,
            "a YAML value (quote strings that contain ':' or '#')",
            problem=f"cannot parse the value {value_text!r}: {error}",
        ) from None
    try:
        _check_size(value, f"--set {key}")
    except ConfigError as error:
        raise ConfigError(key, value_text, error.expected, problem=error.problem) from None
    return key, value


def apply_overrides(raw: Mapping, overrides: Iterable[str]) -> dict:
    """A copy of the raw mapping with every ``key.path=value`` override applied.

    A path descends into nested mappings (a missing section is created, so that
    an unknown key is reported by :func:`parse_config`) and into lists by index
    (``temperatures.1=25``). The result is validated like any config.

    Examples:
        >>> apply_overrides({"sampler": {"step_size": 0.1}}, ["sampler.step_size=0.2"])
        {'sampler': {'step_size': 0.2}}
    """
    result = _deep_copy(raw)
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            path = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            else:
                parent = ".".join(parts[:depth])
                raise ConfigError(
                    path,
                    value,
                    f"`{parent}` to be a section (a mapping) or a list index in range",
                    problem=f"cannot set it from --set {text!r}: `{parent}` is {_show(node)}",
                )
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


# ------------------------------------------------------------------ experiments


def import_experiment(import_path: Any) -> Any:
    """Import an experiment module and check that it defines ``Config`` and ``run``.

    An experiment module defines ``Config``, a frozen dataclass extending
    :class:`ExperimentConfig`, and ``run(config, run) -> dict`` (see
    ``docs/experiments.md``), and may declare the optional packages it imports
    later (inside functions) as ``REQUIRES = ("sklearn", ...)`` (import names).
    Other import errors inside the module propagate as they are; a module that
    is not found is a :class:`ConfigError` on ``experiment``.

    Raises:
        MissingDependencyError: a package that the module imports, or that its
            ``REQUIRES`` names, is not installed (checked before any work).
        ConfigError: the module is not found, or lacks ``Config`` or ``run``.
    """
    expected = "the import path of a module that defines `Config` and `run`"
    if not isinstance(import_path, str) or not import_path:
        raise ConfigError("experiment", import_path, expected)
    try:
        module = importlib.import_module(import_path)
    except ModuleNotFoundError as error:
        if error.name is None:
            raise
        if not import_path.startswith(error.name):  # a package the experiment imports
            raise MissingDependencyError(import_path, error.name.partition(".")[0]) from None
        raise ConfigError(
            "experiment",
            import_path,
            expected + " (run from the folder that contains it: the current directory is "
            "importable)",
            problem=f"no module named {error.name!r}",
        ) from None
    schema = getattr(module, "Config", None)
    if not (isinstance(schema, type) and issubclass(schema, ExperimentConfig)):
        raise ConfigError(
            "experiment",
            import_path,
            expected,
            problem=f"module {import_path!r} has no `Config` subclass of ExperimentConfig",
        )
    if not callable(getattr(module, "run", None)):
        raise ConfigError(
            "experiment",
            import_path,
            expected,
            problem=f"module {import_path!r} has no `run(config, run)` function",
        )
    for name in getattr(module, "REQUIRES", ()):
        if importlib.util.find_spec(str(name).partition(".")[0]) is None:
            raise MissingDependencyError(import_path, str(name).partition(".")[0])
    return module


def config_from_yaml(
    text: str,
    overrides: Iterable[str] = (),
    *,
    schema: type[ConfigT] | None = None,
    source: str = "<string>",
) -> ConfigT:
    r"""Parse YAML text, apply ``--set`` overrides, and validate against the experiment's schema.

    Without ``schema``, the module named by the ``experiment`` key is imported
    and its ``Config`` is the schema.

    Args:
        text: the YAML document.
        overrides: ``"key.path=value"`` strings, applied in order.
        schema: the dataclass to validate against; default: the experiment's ``Config``.
        source: where the text came from, for messages (a file name).

    Examples:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True, kw_only=True)
        ... class Config(ExperimentConfig):
        ...     num_steps: int = setting(100, ge=1)
        >>> text = "name: demo\nexperiment: experiments.demo\nnum_steps: 50\n"
        >>> config_from_yaml(text, ["num_steps=70"], schema=Config).num_steps
        70
    """
    raw = _load_yaml(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError("", raw, f"a mapping of keys to values at the top of {source}")
    overrides = list(overrides)
    raw = apply_overrides(raw, overrides)
    if schema is None:
        if "experiment" not in raw:
            raise ConfigError(
                "experiment",
                None,
                "the import path of the experiment module, e.g. experiments.landscape",
                problem="missing required key",
            )
        schema = import_experiment(raw["experiment"]).Config
    try:
        return parse_config(raw, schema)
    except ConfigError as error:
        raise _blame_override(error, overrides) from None


def _load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` with the expanded size bounded (a "billion laughs" file is refused)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(
            "", source, "a valid YAML document", problem=f"{source} is not valid YAML: {error}"
        ) from None
    except RecursionError:
        raise ConfigError(
            "", source, "a config nested a few levels deep", problem=f"{source} is nested too deep"
        ) from None
    _check_size(raw, source)
    return raw


def _check_size(value: Any, source: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_CONFIG_VALUES` values, or loop.

    PyYAML builds an alias as a second reference to one object, so loading is
    cheap; copying or validating the expanded tree is not. Sizes are counted
    once per object (memoised by identity), so the count itself is cheap.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, Mapping | list | tuple):
            continue
        ident = id(node)
        children = list(node.keys()) + list(node.values()) if isinstance(node, Mapping) else node
        if done:
            active.discard(ident)
            total = 1 + sum(
                sizes.get(id(c), 1) if isinstance(c, Mapping | list | tuple) else 1
                for c in children
            )
            sizes[ident] = total
            if total > MAX_CONFIG_VALUES:
                raise ConfigError(
                    "",
                    source,
                    f"a config of at most {MAX_CONFIG_VALUES} values once YAML aliases "
                    "(&anchor, *alias) are expanded",
                    problem=f"{source} expands to more than {MAX_CONFIG_VALUES} values",
                )
            continue
        if ident in sizes:
            continue
        if ident in active:
            raise ConfigError(
                "",
                source,
                "a config without recursive YAML aliases",
                problem=f"{source} refers to itself",
            )
        active.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for child in children)


def _blame_override(error: ConfigError, overrides: list[str]) -> ConfigError:
    """A cross-key check that an override broke, reported on the key the user set.

    ``--set thin=7`` can make ``chunk_size`` (from the file) fail ``a multiple
    of thin``: the message then names ``thin``, the key the user wrote.
    """
    if not getattr(error, "cross_key", False):
        return error
    written = {}
    for text in overrides:
        key, value = parse_override(text)
        written[key] = (value, text)
    if error.key in written:
        return error
    message = str(error)
    for key, (value, text) in reversed(written.items()):
        name = key.rpartition(".")[2]
        if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message):
            return ConfigError(
                key,
                value,
                f"`{error.key}` to be {error.expected}",
                problem=f"--set {text.strip()} conflicts with `{error.key}` = {_show(error.value)}",
            )
    return error


def config_to_dict(config: Any) -> dict:
    """The config as plain YAML/JSON-ready data (tuples become lists), fields in order.

    Examples:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True)
        ... class Box:
        ...     lower: tuple[float, ...] = (0.0, 1.0)
        >>> config_to_dict(Box())
        {'lower': [0.0, 1.0]}
    """

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(config)


def config_to_yaml(config: Any) -> str:
    """The resolved config as YAML that :func:`config_from_yaml` reads back to an equal config."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
