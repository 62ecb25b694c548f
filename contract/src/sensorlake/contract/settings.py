"""One way to declare a setting, and the settings every package shares.

A setting is declared once, as a field of a frozen dataclass (dlt's ``configspec`` is the
model): its environment variable, default, parser, help, and the old spellings that still
work. From that declaration come the click options of a command (:meth:`ConfigSpec.options`),
the typed frozen values (:meth:`ConfigSpec.from_env`) and ``docs/configuration.md``
(:func:`render_markdown`; regenerate with ``python -m sensorlake.contract.settings``).

Precedence is the same everywhere: a value given on the command line, then the variable, then
its AWS-style fallbacks (``AWS_DEFAULT_REGION`` after ``AWS_REGION``), then a deprecated
spelling (one warning per name), then the default. A value that does not parse is a usage
error (exit 2) that names the variable.

This module and each package's one settings module are the only readers of ``os.environ``
(``tests/test_house_settings.py`` keeps it so). Standard library only; click is imported
only when options are made.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from .errors import ConfigError
from .lake import LOCAL_PATHS
from .names import UcNameError, check_uc_name
from .pipelines import BUCKET_ENV, BUCKET_ROLES, DEFAULT_CATALOG, DEFAULT_SCHEMA

__all__ = [
    "DOCS_PAGE",
    "SETTINGS_MODULES",
    "BucketSettings",
    "CatalogSettings",
    "ConfigSpec",
    "DatabricksSettings",
    "Parser",
    "PathSettings",
    "S3Settings",
    "Setting",
    "SettingError",
    "SparkSettings",
    "child_env",
    "configspec",
    "main",
    "path",
    "registered",
    "render_markdown",
    "seconds",
    "setting",
    "text",
    "uc_name",
    "verbatim",
    "whole",
]

log = logging.getLogger("sensorlake.settings")

# The modules allowed to read the environment, each declaring its package's settings.
# The docs page and the house-rule test import them all; the contract names them as strings
# so it never imports a package above it.
SETTINGS_MODULES: Final[tuple[str, ...]] = (
    "sensorlake.contract.settings",
    "sensorlake.landing.config",
    "sensorlake.streams.config",
    "sensorlake.dashboards.settings",
    "sensorlake.infra.config",
)

T = TypeVar("T")
S = TypeVar("S", bound="ConfigSpec")
F = TypeVar("F", bound=Callable[..., Any])

# A parser turns the text of a variable into its value; it is given the variable's name so
# its error can say which one (raise SettingError, or ValueError for the generic message).
Parser = Callable[[str, str], Any]


class SettingError(ConfigError, ValueError):
    """A setting's value cannot be used: the contract's usage error (exit 2) naming the
    variable. Also a ValueError, as a parser's own errors are."""

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


# -- parsers ---------------------------------------------------------------------------------


def text(name: str, raw: str) -> str:
    """The value as written, without surrounding blanks."""
    return raw.strip()


def verbatim(name: str, raw: str) -> str:
    """The value exactly as written, for identifiers checked whole: ``gw1`` plus a newline
    is refused by its check rather than quietly made into ``gw1``."""
    return raw


def path(name: str, raw: str) -> Path:
    """A file or directory path."""
    return Path(raw)


def whole(minimum: int = 1, *, scale: int = 1, example: int = 1_000) -> Parser:
    """A whole number of at least ``minimum``, times ``scale`` (MB -> bytes)."""

    def parse(name: str, raw: str) -> int:
        hint = f"unset it or set e.g. {name}={example}"
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"{name}={raw!r} is not a whole number", hint=hint) from None
        if value < minimum:
            bound = "positive" if minimum == 1 else f"at least {minimum}"
            raise SettingError(f"{name}={raw!r} must be {bound}", hint=hint)
        return value * scale

    return parse


def seconds(name: str, raw: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise SettingError(f"{name} must be positive, not {raw!r}")
    return value


def uc_name(name: str, raw: str) -> str:
    """A catalog/schema name under the contract's one rule (what the jobs write to)."""
    try:
        return check_uc_name(name, raw.strip())
    except UcNameError as exc:
        raise SettingError(str(exc)) from None


# -- declarations ----------------------------------------------------------------------------

_warned: set[str] = set()


@dataclass(frozen=True)
class Setting:
    """One setting: its variable, default, parser, help; old spellings; its option."""

    env: str
    default: Any
    help: str
    parse: Parser = text
    # Old spellings, still read for one release with one warning each.
    aliases: tuple[str, ...] = ()
    # Read after ``env`` without a warning: the order AWS itself uses.
    fallbacks: tuple[str, ...] = ()
    option: str | None = None  # the command-line flag, when a command has one
    secret: bool = False  # never shown: not in errors, repr, help or docs
    shown_default: str | None = None  # how docs and help show the default, when not its repr

    def lookup(self, environ: Mapping[str, str]) -> tuple[str, str] | None:
        """The variable that is set and its text (None when none is)."""
        for name in (self.env, *self.fallbacks):
            raw = environ.get(name)
            if raw is not None and raw.strip() != "":
                return name, raw
        for alias in self.aliases:
            raw = environ.get(alias)
            if raw is not None and raw.strip() != "":
                if alias not in _warned:
                    _warned.add(alias)
                    log.warning(
                        "%s is deprecated and goes away in the next release: set %s instead",
                        alias,
                        self.env,
                    )
                return alias, raw
        return None

    def read(self, environ: Mapping[str, str], given: Any = None) -> Any:
        """``given`` (from an option) when not None, else the environment, else the default."""
        if given is not None:
            if isinstance(given, str):
                return self._parse(self.option or self.env, given)
            return given
        found = self.lookup(environ)
        if found is None:
            return self.default
        return self._parse(*found)

    def _parse(self, name: str, raw: str) -> Any:
        try:
            return self.parse(name, raw)
        except SettingError:
            raise
        except ValueError as exc:
            shown = "its value" if self.secret else repr(raw)
            raise SettingError(f"{name}: {shown} cannot be used ({exc})") from None

    @property
    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default in (None, "") or self.secret:
            return "(none)"
        return str(self.default)


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    parse: Parser | None = None,
    aliases: tuple[str, ...] = (),
    fallbacks: tuple[str, ...] = (),
    option: str | None = None,
    secret: bool = False,
    shown_default: str | None = None,
) -> Any:
    """A dataclass field declared as a setting (use inside a :func:`configspec` class)."""
    if parse is None:
        parse = path if isinstance(default, Path) else text
    spec = Setting(env, default, help, parse, aliases, fallbacks, option, secret, shown_default)
    return field(default=default, repr=not secret, metadata={"setting": spec})


_REGISTRY: list[type[ConfigSpec]] = []


def configspec(title: str, *, register: bool = True) -> Callable[[type[S]], type[S]]:
    """Make a :class:`ConfigSpec` subclass a frozen dataclass and register it (docs, tests);
    ``register=False`` for a group that is no part of the product (a test's)."""

    def wrap(cls: type[S]) -> type[S]:
        cls = dataclass(frozen=True)(cls)
        cls.title = title
        if register:
            _REGISTRY.append(cls)
        return cls

    return wrap


class ConfigSpec:
    """Base of a declared group of settings (a frozen dataclass made by :func:`configspec`).

    Fields declared with :func:`setting` come from the environment; plain fields only from
    what the caller gives (``buckets``, timeouts chosen by the package).
    """

    title: ClassVar[str] = ""

    @classmethod
    def settings(cls) -> dict[str, Setting]:
        """Every setting of the group, inherited ones included, by field name."""
        return {
            f.name: f.metadata["setting"]
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if "setting" in f.metadata
        }

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        """The settings this class itself declares (not those of a base group)."""
        inherited: set[str] = set()
        for base in cls.__mro__[1:]:
            if dataclasses.is_dataclass(base):
                inherited |= {f.name for f in dataclasses.fields(base)}
        return {k: v for k, v in cls.settings().items() if k not in inherited}

    @classmethod
    def from_env(cls: type[S], environ: Mapping[str, str] | None = None, /, **given: Any) -> S:
        """The typed values: ``given`` (not None) over ``environ`` over the defaults."""
        env = os.environ if environ is None else environ
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, f in names.items():
            spec: Setting | None = f.metadata.get("setting")
            if spec is not None:
                values[name] = spec.read(env, given.get(name))
            elif given.get(name) is not None:
                values[name] = given[name]
        return cls(**values)

    @classmethod
    def options(
        cls,
        *names: str,
        resolve: bool = True,
        help: Mapping[str, str] | None = None,
    ) -> Callable[[F], F]:
        """Click options for these fields (default: every one that has a flag).

        With ``resolve`` the command receives the resolved value (option, variable, old
        spelling, default); without, None when the flag is not given, for commands that
        resolve later (``from_env(**options)``). A bad value is click's usage error (exit 2).
        """
        import click

        declared = cls.settings()
        chosen = names or tuple(n for n, s in declared.items() if s.option)
        overrides = help or {}

        def decorate(fn: F) -> F:
            for name in reversed(chosen):
                spec = declared[name]
                if spec.option is None:
                    raise TypeError(f"{cls.__name__}.{name} has no option")
                fn = click.option(
                    spec.option,
                    name,
                    type=click.Path(path_type=Path) if spec.parse is path else None,
                    default=None,
                    callback=_resolver(spec) if resolve else None,
                    help=_help(spec, overrides.get(name)),
                )(fn)
            return fn

        return decorate


def _help(spec: Setting, text: str | None) -> str:
    body = (text or spec.help[:1].upper() + spec.help[1:]).rstrip(".")
    return f"{body} [env {spec.env}; default {spec.default_text}]."


def _resolver(spec: Setting) -> Callable[[Any, Any, Any], Any]:
    def resolve(ctx: Any, param: Any, value: Any) -> Any:
        import click

        try:
            return spec.read(os.environ, value)
        except SettingError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return resolve


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a child process gets: this one's, plus ``extra``."""
    return {**os.environ, **(extra or {})}


def registered(import_all: bool = True) -> list[type[ConfigSpec]]:
    """Every declared group; with ``import_all``, after importing every settings module."""
    if import_all:
        for module in SETTINGS_MODULES:
            importlib.import_module(module)
    return list(_REGISTRY)


# -- the shared groups -----------------------------------------------------------------------


def _local(key: str) -> Any:
    spec = LOCAL_PATHS[key]
    return setting(spec.env, spec.default, spec.help, option=spec.option)


@configspec("Local paths")
class PathSettings(ConfigSpec):
    """The places on one machine every command agrees on (``contract.lake.LOCAL_PATHS``)."""

    db_path: Path = _local("db")
    state_dir: Path = _local("state")
    lake_dir: Path = _local("lake")
    warehouse_dir: Path = _local("warehouse")
    checkpoint_dir: Path = _local("checkpoint")


@configspec("Unity Catalog names")
class CatalogSettings(ConfigSpec):
    """Where the tables live: the streams write there, infra creates it, dashboards read it."""

    catalog: str = setting(
        "SENSORLAKE_CATALOG",
        DEFAULT_CATALOG,
        "catalog of the tables (local: a folder of the warehouse)",
        parse=uc_name,
        aliases=("UC_CATALOG",),
        option="--catalog",
    )
    schema: str = setting(
        "SENSORLAKE_SCHEMA",
        DEFAULT_SCHEMA,
        "schema of the tables (local: a folder of the catalog)",
        parse=uc_name,
        aliases=("UC_SCHEMA",),
        option="--schema",
    )


@configspec("S3 buckets")
class BucketSettings(ConfigSpec):
    """The migration guide's bucket variables, one per bucket role."""

    raw: str | None = setting(BUCKET_ENV["raw"], None, "bucket of the raw pipeline")
    schematized: str | None = setting(
        BUCKET_ENV["schematized"], None, "bucket of the schematized pipeline (and rejected rows)"
    )
    filtered: str | None = setting(BUCKET_ENV["filtered"], None, "bucket of the filtered pipeline")
    emergency: str | None = setting(
        BUCKET_ENV["emergency"], None, "bucket of the emergency pipeline"
    )
    checkpoints: str | None = setting(
        BUCKET_ENV["checkpoints"], None, "bucket of the streams' checkpoints and schemas (infra)"
    )

    def configured(self, roles: Iterable[str] = BUCKET_ROLES) -> dict[str, str]:
        """Role -> bucket name, for the roles that have one."""
        return {role: name for role in roles if (name := getattr(self, role))}


@configspec("S3 connection")
class S3Settings(ConfigSpec):
    """How S3 is reached, as AWS's tools resolve it; buckets and timeout are the caller's."""

    region: str | None = setting(
        "AWS_REGION",
        None,
        "AWS region of the buckets",
        fallbacks=("AWS_DEFAULT_REGION",),
        shown_default="the AWS SDK's",
    )
    endpoint_url: str | None = setting(
        "AWS_ENDPOINT_URL_S3",
        None,
        "S3 endpoint (moto, MinIO, a VPC endpoint)",
        fallbacks=("AWS_ENDPOINT_URL",),
        shown_default="AWS's",
    )
    sts_endpoint_url: str | None = setting(
        "AWS_ENDPOINT_URL_STS",
        None,
        "STS endpoint (`sensorlake validate` asks it who we are)",
        fallbacks=("AWS_ENDPOINT_URL",),
        shown_default="AWS's",
    )
    buckets: Mapping[str, str] = field(default_factory=dict)  # role -> bucket name
    timeout_seconds: float = 10.0  # per request, retries included (a page must not hang)


@configspec("Databricks connection")
class DatabricksSettings(ConfigSpec):
    """The SQL warehouse the dashboards query; the token never reaches a log or repr."""

    host: str | None = setting("DATABRICKS_HOST", None, "workspace host name")
    http_path: str | None = setting(
        "DATABRICKS_HTTP_PATH", None, "SQL warehouse HTTP path (/sql/1.0/warehouses/...)"
    )
    token: str | None = setting(
        "DATABRICKS_TOKEN", None, "access token (never logged or shown)", secret=True
    )

    @property
    def missing(self) -> list[str]:
        """The variables still to set ([] when Databricks is configured)."""
        values = {"host": self.host, "http_path": self.http_path, "token": self.token}
        declared = DatabricksSettings.settings()
        return [declared[name].env for name, value in values.items() if not value]


@configspec("Local Spark")
class SparkSettings(ConfigSpec):
    """The local Spark session of ``sensorlake streams run`` (and the tests, benchmarks)."""

    master: str = setting(
        "SENSORLAKE_SPARK_MASTER",
        "local[*]",
        "Spark master of the local session",
        option="--master",
    )
    driver_memory: str = setting(
        "SENSORLAKE_SPARK_DRIVER_MEMORY", "4g", "Spark driver memory", option="--driver-memory"
    )


# -- the docs page ---------------------------------------------------------------------------

DOCS_PAGE: Final = Path("docs/configuration.md")


_PACKAGE_ORDER: Final = ("contract", "landing", "streams", "infra", "dashboards")


def _page_order(group: type[ConfigSpec]) -> tuple[int, str]:
    """Package by package in the flow's order, then by module; within a module, as declared
    (the sort is stable), so the page does not depend on which package was imported first."""
    package = group.__module__.removeprefix("sensorlake.").split(".")[0]
    rank = _PACKAGE_ORDER.index(package) if package in _PACKAGE_ORDER else len(_PACKAGE_ORDER)
    return rank, group.__module__


def render_markdown(groups: Iterable[type[ConfigSpec]]) -> str:
    """``docs/configuration.md``: every setting, by group, from its declaration."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from the declarations (sensorlake.contract.settings and each package's",
        "     settings module): edit those, then run `uv run python -m sensorlake.contract.settings`. -->",
        "",
        "Every setting has one environment variable; a command-line option, where there is one,",
        "wins over it. Old spellings still work for one release and log one deprecation line.",
        "A value that cannot be used stops the command with exit 2, naming the variable.",
        "",
    ]
    for group in sorted(groups, key=_page_order):
        declared = group.declared()
        if not declared:
            continue
        module = group.__module__.removeprefix("sensorlake.")
        lines += [f"## {group.title}", "", f"`{module}.{group.__name__}`", ""]
        paragraph = (group.__doc__ or "").strip().split("\n\n")[0]
        if paragraph:
            lines += [" ".join(line.strip() for line in paragraph.splitlines()), ""]
        lines += ["| Variable | Option | Default | Meaning |", "|---|---|---|---|"]
        for spec in declared.values():
            names = f"`{spec.env}`"
            if spec.fallbacks:
                names += ", then " + ", ".join(f"`{n}`" for n in spec.fallbacks)
            if spec.aliases:
                names += " (deprecated: " + ", ".join(f"`{n}`" for n in spec.aliases) + ")"
            option = f"`{spec.option}`" if spec.option else ""
            default = spec.default_text
            if spec.shown_default is None and default != "(none)":
                default = f"`{default}`"
            meaning = spec.help.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            meaning += " (secret: never logged)" if spec.secret else ""
            lines.append(f"| {names} | {option} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write docs/configuration.md (``--check``: exit 1 when it is out of date)."""
    args = sys.argv[1:] if argv is None else argv
    page = render_markdown(registered())
    if "--check" in args:
        current = DOCS_PAGE.read_text(encoding="utf-8") if DOCS_PAGE.exists() else ""
        if current != page:
            print(f"{DOCS_PAGE} is out of date: run python -m sensorlake.contract.settings")
            return 1
        return 0
    DOCS_PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {DOCS_PAGE}")
    return 0


if __name__ == "__main__":
    from sensorlake.contract.settings import main as _main  # the imported module's registry

    sys.exit(_main())
