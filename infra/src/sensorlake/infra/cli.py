"""Commands: ``synth``, ``plan-review``, ``scan`` and ``setup`` (deploy, then validate).

Registered in the root ``sensorlake`` CLI through the ``sensorlake.commands`` entry points,
and runnable on their own as ``python -m sensorlake.infra.cli <command>`` (what infra.mk
uses, so the make targets do not depend on the landing package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

from sensorlake.contract import pipelines
from sensorlake.contract.cli import HandledGroup
from sensorlake.contract.errors import ExitCode, SensorlakeError, UsageError, exit_with
from sensorlake.infra import naming
from sensorlake.infra.config import CONFIG_ENV, child_env, config_path, load_settings
from sensorlake.infra.errors import CommandError, DeployFailed, InfraError, PrerequisiteError
from sensorlake.infra.prereqs import (
    CDKTF_BIN,
    databricks_run_as_check,
    missing_prerequisites,
    terraform_binary,
)
from sensorlake.infra.review import diff_stacks, load_synth, render_markdown

__all__ = [
    "default_base",
    "describe_state",
    "main",
    "plan",
    "plan_review",
    "scan",
    "setup",
    "synth",
]

_QUIET_JSII = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,22",
    "CHECKPOINT_DISABLE": "1",  # no version check calls from cdktf/terraform
}
_SYNTH_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("cdktf.out"),
    show_default=True,
    help="Where `sensorlake synth` wrote the stacks.",
)
_CONFIG = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="unity_catalog_config.yaml (default: ./unity_catalog_config.yaml, else the example).",
)


def _git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CommandError(["git", *args], proc.returncode, proc.stderr.strip())
    return proc.stdout.strip()


def _synth_cmd(outdir: Path, config: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "sensorlake.infra.main", "--outdir", str(outdir)]
    return cmd + (["--config", str(config)] if config else [])


def default_base() -> str:
    """origin/main when it exists, else the previous commit."""
    try:
        _git("rev-parse", "--verify", "--quiet", "origin/main")
        return "origin/main"
    except CommandError:
        return "HEAD~1"


def _fail(exc: SensorlakeError) -> NoReturn:
    exit_with(exc)  # one line (and the problems it lists) on stderr, the contract's exit code


@click.command(
    epilog="""\b
Examples:
  sensorlake synth
  sensorlake synth --config unity_catalog_config.yaml --outdir /tmp/cdktf.out
"""
)
@_CONFIG
@click.option(
    "--outdir", type=click.Path(path_type=Path), default=Path("cdktf.out"), show_default=True
)
def synth(config: Path | None, outdir: Path) -> None:
    """Synthesize every stack into OUTDIR/stacks/<stack>/cdk.tf.json (offline)."""
    env = child_env(_QUIET_JSII)
    proc = subprocess.run(_synth_cmd(outdir, config), env=env, check=False)
    if proc.returncode:
        sys.exit(proc.returncode)
    for stack in load_synth(outdir):
        click.echo(f"synthesized {outdir}/stacks/{stack}/cdk.tf.json")


@click.command(
    name="plan-review",
    epilog="""\b
Examples:
  sensorlake plan-review                       # origin/main (or HEAD~1) vs the working tree
  sensorlake plan-review --base v0.3.0 --out review.md
  make plan-review BASE=HEAD~3
""",
)
@click.option("--base", default=None, help="Git ref to compare against [origin/main, else HEAD~1].")
@_CONFIG
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("cdktf.out/plan-review.md"),
    show_default=True,
)
@click.option(
    "--scan/--no-scan", default=True, help="Append the checkov result of the working tree."
)
def plan_review(base: str | None, config: Path | None, out: Path, scan: bool) -> None:
    """Offline plan review: synthesize BASE and the working tree, print what changes (Markdown)."""
    try:
        markdown = _plan_review(base or default_base(), config, out, scan)
    except InfraError as exc:
        _fail(exc)
    click.echo(markdown)


def _base_config(root: Path, tree: Path, base_sha: str, head_cfg: Path) -> tuple[Path, str]:
    """The config the base is synthesized with, and how it relates to the head's.

    Base and head use the same file, so a code change is reviewed alone; when that file is
    tracked in git, the base uses the base commit's version of it, so a config change shows
    as the change it is.
    """
    try:
        rel = head_cfg.resolve().relative_to(root)
    except ValueError:
        return head_cfg.resolve(), f"`{head_cfg}` (same file for base and head)"
    try:
        _git("cat-file", "-e", f"{base_sha}:{rel.as_posix()}", cwd=root)
    except CommandError:
        return head_cfg.resolve(), f"`{rel}` (untracked or new: same file for base and head)"
    return tree / rel, f"`{rel}` (base: its version at {base_sha})"


def _plan_review(base: str, config: Path | None, out: Path, with_scan: bool) -> str:
    root = Path(_git("rev-parse", "--show-toplevel"))
    sha = _git("rev-parse", "--short", f"{base}^{{commit}}")
    head_out = root / "cdktf.out"
    head_cfg = config_path(config).resolve()
    env = child_env(_QUIET_JSII)
    env.pop(CONFIG_ENV, None)  # both synths get an explicit --config
    with tempfile.TemporaryDirectory(prefix="sensorlake-review-") as tmp:
        tree, base_out = Path(tmp) / "base", Path(tmp) / "base-out"
        _git("worktree", "add", "--detach", "--quiet", str(tree), sha, cwd=root)
        try:
            procs = [subprocess.Popen(_synth_cmd(head_out, head_cfg), cwd=root, env=env)]
            base_app = tree / "infra" / "src" / "sensorlake" / "infra" / "main.py"
            config_note = f"`{head_cfg}`"
            if base_app.exists():
                base_cfg, config_note = _base_config(root, tree, sha, head_cfg)
                base_env = {**env, "PYTHONPATH": str(tree / "infra" / "src")}
                procs.append(
                    subprocess.Popen(_synth_cmd(base_out, base_cfg), cwd=tree, env=base_env)
                )
            for proc in procs:
                if proc.wait() != 0:
                    raise CommandError(list(map(str, proc.args)), proc.returncode, "synth failed")
            base_stacks = load_synth(base_out)
        finally:
            _git("worktree", "remove", "--force", str(tree), cwd=root)
    scan_text = ""
    if with_scan:
        from sensorlake.infra.scan import run_checkov

        scan_text = run_checkov(head_out).summary()
    markdown = render_markdown(
        diff_stacks(base_stacks, load_synth(head_out)),
        f"{base} ({sha})",
        "working tree",
        scan_text,
        config_note=config_note,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown, encoding="utf-8")
    return markdown


@click.command(
    epilog="""\b
Examples:
  sensorlake scan                  # after `sensorlake synth`
  sensorlake scan --dir /tmp/cdktf.out
"""
)
@_SYNTH_DIR
def scan(directory: Path) -> None:
    """checkov over the synthesized JSON; fails on any finding not skipped in checkov-skips.yaml."""
    from sensorlake.infra.scan import run_checkov

    try:
        result = run_checkov(directory)
    except InfraError as exc:
        _fail(exc)
    click.echo(result.summary())
    for finding, skip in result.skipped:
        click.echo(f"  skipped {finding.check} {finding.resource}: {skip.reason}")
    sys.exit(ExitCode.OK if result.ok else ExitCode.MISMATCH)


@click.command(
    epilog="""\b
Examples:
  sensorlake setup                           # check, deploy (asks before applying), validate
  sensorlake setup --auto-approve
  SERVICE_PRINCIPAL=<app-id> DATA_TEAM_GROUP=data-team make deploy ARGS=--auto-approve
"""
)
@_CONFIG
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI).")
@click.option("--skip-validate", is_flag=True, help="Do not run `sensorlake validate` afterwards.")
def setup(config: Path | None, auto_approve: bool, skip_validate: bool) -> None:
    """Check prerequisites, `cdktf deploy` the stacks in order, then `sensorlake validate`
    as the gateway role (proves the gateway policy, not the deployer's rights)."""
    try:
        settings = load_settings(config)
        environ = child_env()
        missing = missing_prerequisites(
            settings, environ, run_as_check=databricks_run_as_check(environ)
        )
        if missing:
            raise PrerequisiteError(missing)
    except InfraError as exc:
        _fail(exc)
    env = child_env(_QUIET_JSII)
    if config:
        env[CONFIG_ENV] = str(config.resolve())
    binary = terraform_binary()
    if binary and Path(binary).name == "tofu":
        env["TERRAFORM_BINARY_NAME"] = binary
    root = Path(_git("rev-parse", "--show-toplevel"))
    from sensorlake.infra.main import jobs_wheels

    try:
        with_jobs = jobs_wheels(settings, root) is not None
    except InfraError as exc:
        _fail(exc)
    stacks = [s for s in naming.STACK_ORDER if with_jobs or s != naming.JOBS_STACK]
    argv = [str(CDKTF_BIN), "deploy", *stacks]
    argv += ["--auto-approve"] if auto_approve else []
    click.echo("$ " + " ".join(argv))
    if subprocess.run(argv, cwd=root, env=env, check=False).returncode:
        _fail(DeployFailed(argv, 1, "cdktf deploy failed; nothing was validated"))
    if skip_validate:
        return
    import boto3

    from sensorlake.infra.gateway_session import gateway_env

    try:
        sts = boto3.client("sts", region_name=settings.aws.region)
        validate_env = gateway_env(settings, sts, {**env, "AWS_REGION": settings.aws.region})
    except InfraError as exc:
        _fail(exc)
    validate_env.update({env: settings.bucket(r) for r, env in pipelines.BUCKET_ENV.items()})
    exe = shutil.which("sensorlake") or "sensorlake"
    click.echo(f"$ sensorlake validate   # as the gateway role {settings.gateway.role_name}")
    sys.exit(subprocess.run([exe, "validate"], env=validate_env, check=False).returncode)


def describe_state(stack_dir: Path, doc: dict) -> str:
    """Which state a plan of this stack reads, said plainly (a missing local file means the
    plan compares against nothing: every resource shows as to be created)."""
    backend = (doc.get("terraform") or {}).get("backend") or {}
    if "s3" in backend:
        b = backend["s3"]
        lock = ", S3 lock file" if b.get("use_lockfile") else ""
        return f"state: s3://{b['bucket']}/{b['key']} ({b.get('region', '')}{lock})"
    path = (stack_dir / (backend.get("local") or {}).get("path", "terraform.tfstate")).resolve()
    if path.is_file():
        return f"state: local file {path} (sandbox)"
    return (
        f"state: local file {path} is MISSING: this plan compares against an empty state, so "
        "everything shows as to be created (sandbox only; use the S3 backend)"
    )


@click.command(
    epilog="""\b
Examples:
  make plan                   # synthesize, then terraform init + plan per stack
  sensorlake plan --dir cdktf.out
"""
)
@_SYNTH_DIR
def plan(directory: Path) -> None:
    """Real `terraform plan` per stack (needs credentials), saying which state it plans against."""
    binary = terraform_binary()
    if binary is None:
        _fail(PrerequisiteError(["terraform or tofu on PATH"]))
    stacks = load_synth(directory)
    if not stacks:
        _fail(UsageError(f"nothing synthesized in {directory}", hint="run `make synth`"))
    env = child_env(_QUIET_JSII)
    for stack in naming.STACK_ORDER:
        if stack not in stacks:
            continue
        stack_dir = directory / "stacks" / stack
        click.echo(f"== {stack}: {describe_state(stack_dir, stacks[stack])}")
        for args in (["init", "-input=false", "-no-color"], ["plan", "-input=false", "-no-color"]):
            proc = subprocess.run([binary, f"-chdir={stack_dir}", *args], env=env, check=False)
            if proc.returncode:
                sys.exit(proc.returncode)


@click.group(cls=HandledGroup)
def main() -> None:
    """sensorlake infra commands (also available as `sensorlake <command>`)."""


for _cmd in (synth, plan_review, scan, setup, plan):
    main.add_command(_cmd)

if __name__ == "__main__":
    main()
