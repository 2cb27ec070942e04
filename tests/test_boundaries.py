"""The lines the architecture draws: imports run one way, the portal holds no private key."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import tipline
from tipline.intake.config import Config, ConfigError

ROOT = Path(tipline.__file__).parent


def imports_of(module: str) -> set[str]:
    """The tipline modules ``module`` imports, directly, at any depth in its source."""
    path = ROOT.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT.parent / module.replace(".", "/") / "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("tipline")}
    return found


def reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = ROOT.parent / (module.replace(".", "/") + ".py")
        package = ROOT.parent / module.replace(".", "/") / "__init__.py"
        if not (path.exists() or package.exists()):
            continue  # a name imported from a module, not a module
        seen.add(module)
        todo.extend(imports_of(module))
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    return seen


def modules_under(package: str) -> list[str]:
    base = ROOT.parent
    return [
        ".".join(path.relative_to(base).with_suffix("").parts).removesuffix(".__init__")
        for path in (base / package.replace(".", "/")).rglob("*.py")
    ]


def test_portal_never_reaches_triage_code() -> None:
    for module in modules_under("tipline.portal"):
        assert not {m for m in reachable(module) if m.startswith("tipline.triage")}, module


def test_triage_never_reaches_portal_code() -> None:
    for module in modules_under("tipline.triage"):
        assert not {m for m in reachable(module) if m.startswith("tipline.portal")}, module


def test_crypto_imports_nothing_of_ours_and_no_flask_or_database() -> None:
    for module in modules_under("tipline.crypto"):
        assert {m for m in reachable(module) if not m.startswith("tipline.crypto")} <= {"tipline"}
        source = ROOT.parent / (module.replace(".", "/") + ".py")
        if source.exists():
            tree = ast.parse(source.read_text(encoding="utf-8"))
            roots = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {
                node.module.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
            }
            assert not roots & {"flask", "sqlalchemy", "werkzeug", "redis", "rq"}, module


def test_only_crypto_imports_cryptography() -> None:
    for path in ROOT.rglob("*.py"):
        if "crypto" in path.relative_to(ROOT).parts[:1]:
            continue
        assert "import cryptography" not in path.read_text(encoding="utf-8")
        assert "from cryptography" not in path.read_text(encoding="utf-8"), path


PROBE = textwrap.dedent(
    """
    import gc, io, json, re, sys
    from tipline.intake.config import Config
    from tipline.portal import create_app
    import tipline.crypto.keys as keys

    app = create_app(Config(instance=__INSTANCE__, database_url=__DB__, secret_key="s",
                            keys_dir=__KEYS__, receipt_scrypt_n=1024, secure_cookies=False))
    client = app.test_client()
    page = client.get("/report").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = client.post("/report", data={"csrf_token": token, "category": "fake_docs",
                         "province": "440000", "text": "probe", "anonymous": "yes"})
    private = [o for o in gc.get_objects()
               if isinstance(o, keys.PrivateKey) or type(o).__name__.endswith("PrivateKey")]
    print(json.dumps({
        "status": answer.status_code,
        "private_objects": len(private),
        "triage_loaded": sorted(m for m in sys.modules if m.startswith("tipline.triage")),
    }))
    """
)


def test_portal_process_holds_no_private_key(
    public_keys_dir: Path, tmp_path: Path, sqlite_template: Path
) -> None:
    """A portal given only public key files serves a submission, and its process holds no
    private key object and no triage module, so there is nothing in it that opens a tip."""
    assert not list(public_keys_dir.glob("*.key.json"))
    database = tmp_path / "probe.db"
    database.write_bytes(sqlite_template.read_bytes())
    code = (
        PROBE.replace("__INSTANCE__", repr(str(tmp_path)))
        .replace("__DB__", repr(f"sqlite:///{database}"))
        .replace("__KEYS__", f"__import__('pathlib').Path({str(public_keys_dir)!r})")
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": 303, "private_objects": 0, "triage_loaded": []}  # stored


def test_portal_refuses_private_key_material(
    make_config: Callable[..., Config], keys_dir: Path, public_keys_dir: Path
) -> None:
    from tipline.portal import create_app

    with pytest.raises(ConfigError, match="private key material"):
        create_app(make_config(keys_dir=keys_dir, key_passphrase=None))
    with pytest.raises(ConfigError, match="passphrase"):
        create_app(make_config(keys_dir=public_keys_dir))
