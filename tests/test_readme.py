"""The README runs as written: every ``sh`` and ``python`` block, in order, in one fresh
folder, each Python block a script file of its own (as a user saves it); every ``yaml`` block
validates there (a block after ``<!-- file: NAME -->`` is written to NAME first). ``text``
blocks are synopses and output, not commands: the two ``make`` targets (they build the
project's own environment), installs from the package index and a cluster's address."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"(?:^<!-- file: (?P<file>\S+) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```",
                   re.S | re.M)
RUNNABLE = {"sh", "python", "yaml"}
SHARED = Path(__file__).resolve().parents[2] / "shared"


def blocks() -> list[tuple[str, str, str | None]]:
    return [(m["lang"], m["body"], m["file"]) for m in FENCE.finditer(README.read_text())]


def test_every_block_says_what_it_is():
    """An untagged block would silently escape this test."""
    untagged = [body.splitlines()[0] for lang, body, _ in blocks() if not lang]
    assert not untagged, f"README blocks without a language tag: {untagged}"
    assert {lang for lang, _, _ in blocks()} <= RUNNABLE | {"text"}


def _environment() -> dict:
    bin_folder = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_folder + os.pathsep + os.environ["PATH"],
            "PRUNEDISTILL_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}


def test_the_readme_runs_as_written_in_a_fresh_folder(tmp_path):
    from prunedistill.config import validate_config

    environment = _environment()
    for index, (lang, body, file) in enumerate(blocks()):
        where = f"README block {index} ({lang}): {body.splitlines()[0]!r}"
        if file:
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / file).write_text(body)
        if lang == "yaml":
            cwd = os.getcwd()
            os.chdir(tmp_path)
            try:
                validate_config(yaml.safe_load(body), where)
            finally:
                os.chdir(cwd)
        elif lang in ("sh", "python"):
            script = tmp_path / f"readme_block_{index}.py"
            if lang == "python":
                script.write_text(body)
            command = ["bash", "-euo", "pipefail", "-c", body] if lang == "sh" else \
                [sys.executable, str(script)]
            run = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                                 text=True, timeout=900)
            assert run.returncode == 0, f"{where} failed:\n{run.stdout[-3000:]}\n" \
                                        f"{run.stderr[-3000:]}"


@pytest.mark.parametrize("name", ["docs/science.md", "docs/design.md"])
def test_documents_the_readme_links_exist(name):
    assert (README.parent / name).is_file()
