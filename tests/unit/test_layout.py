"""The package layout the README and the Dockerfile promise."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
MAX_LINES = 300


def stages(dockerfile: str) -> dict[str, str]:
    """Each stage's name and its instructions."""
    parts = re.split(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_production_image_carries_no_devkit() -> None:
    found = stages((ROOT / "Dockerfile").read_text())
    runtime = found["runtime"]
    # the runtime stage takes the installed venv from `build`, and nothing else of service/
    assert re.search(r"^COPY --from=build /opt/venv /opt/venv$", runtime, re.M)
    assert not re.search(r"^COPY (?!--from=build /opt/venv)(?!schemas).*", runtime, re.M)
    build = found["build"]
    install = build.index("pip install")
    assert build.rindex("rm -rf service/devkit", 0, install) > build.index("COPY service")
    # the sandbox image is built from the whole tree, devkit included
    assert "rm -rf service/devkit" not in found["build-sandbox"]
    assert "COPY --from=build-sandbox" in found["sandbox"]


def test_devkit_modules_are_imported_by_no_relay_module() -> None:
    offenders = []
    for path in SERVICE.rglob("*.py"):
        if "devkit" in path.relative_to(SERVICE).parts or path.name == "cli.py":
            continue  # the command dispatcher names devkit subcommands by string only
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path}: {n}" for n in names if n.startswith("service.devkit")]
    assert offenders == []


def test_long_modules_say_why() -> None:
    """No module over 300 lines unless its docstring says why (`Over 300 lines: ...`)."""
    unexplained = []
    for path in sorted(SERVICE.rglob("*.py")):
        source = path.read_text()
        if source.count("\n") <= MAX_LINES:
            continue
        if "Over 300 lines:" not in (ast.get_docstring(ast.parse(source)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)} ({source.count(chr(10))} lines)")
    assert unexplained == []
