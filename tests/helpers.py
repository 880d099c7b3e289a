"""What several test modules share: the CLI invoked in process, record writers, small stores,
documents made for the UI and the server, and waiting for a condition. Test modules import these
from here and never from one another (tests/test_architecture.py checks)."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from indexer.cli.app import cli
from indexer.collection import Collection
from indexer.settings import Settings
from tests.conftest import read_only

SEMSEARCH = str(Path(sys.executable).parent / "semsearch")
SERVER_START_SECONDS = 120  # a child process imports torch and loads the model on a busy machine
ODD_ID = "mail/2024 ü?#%&+.pdf"
_TABLE = f"""
docs/shocks.txt | Shock waves | 1961 | en | Supersonic flow on a wedge forms an oblique shock wave.
notes/wings.md | Wings | 1950 | en | Wings generate lift from the pressure difference.
{ODD_ID} | Nozzles | 1970 | de | Heat transfer in rocket nozzles and the cooling of their walls.
plain | Boundary layers | 1958 | en | Viscous flow near walls slows the boundary layer.
"""
SERVED_DOCS = [
    {"id": doc_id, "title": title, "text": text, "metadata": {"year": int(year), "lang": lang}}
    for doc_id, title, year, lang, text in (row.split(" | ") for row in _TABLE.split("\n") if row)
]
_UI_TABLE = """
jets | Jet engines | Turbojet engines compress air and burn fuel. | 1950 | en | 1950-03-01
wings | Wings | Wings generate lift from a pressure difference. | 1960 | en | 1960-07-15
shocks | Shock waves | Supersonic flow forms oblique shock waves. | 1970 | de | 1970-01-20
xss | <b>bold</b> title | <script>alert(1)</script> unsafe markup | 1980 | en | 1980-12-31
"""
UI_DOCS = [
    {
        "id": doc_id,
        "title": title,
        "text": text,
        "metadata": {"year": int(year), "lang": lang, "published": published},
    }
    for doc_id, title, text, year, lang, published in (
        row.split(" | ") for row in _UI_TABLE.split("\n") if row
    )
] + [
    {
        "id": "markdown",
        "title": "Markdown notes",
        "text": "# Heading\n\n    indented 'code' & <tags>\n\n**bold** $x^2$ "
        + "![pixel](http://127.0.0.1:9/pixel.png) <img src='http://127.0.0.1:9/img.png'>\n\n"
        + " ".join(f"filler{i}" for i in range(120)),
        "metadata": {
            "year": 1958,
            "lang": "en",
            "published": "1958-05-05",
            "source": "1958 report",
        },
    },
]


def interruptible() -> None:
    """`Popen(preexec_fn=interruptible)`: Ctrl-C reaches the child as a user's would, even when
    the tests run as a background job, whose processes start with SIGINT ignored (and Python
    then leaves it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def invoke(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def write_varied_records(
    path: Path, count: int, prefix: str, lead: str, filler: str, spread: int
) -> Path:
    """`count` JSON lines with ids PREFIX0, PREFIX1...; the i-th text is "LEAD i " followed by
    `filler` i % `spread` times (texts of many lengths, some over one window)."""
    path.write_text(
        "".join(
            json.dumps({"id": f"{prefix}{i}", "text": f"{lead} {i} " + filler * (i % spread)})
            + "\n"
            for i in range(count)
        )
    )
    return path


def write_records(path: Path, count: int, prefix: str = "r") -> Path:
    lines = [
        json.dumps({"id": f"{prefix}{i}", "text": f"record {i} about wings"}) for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def documents(store: Path, columns: str = "id, text, metadata, content_hash") -> list[tuple]:
    """These columns of every stored document, by id (the store opened read-only)."""
    with read_only(store) as db:
        return db.execute(f"SELECT {columns} FROM documents ORDER BY id").fetchall()


def make_store(folder: Path, model: Path, docs: list[dict[str, Any]] = SERVED_DOCS) -> Path:
    with Collection(folder, Settings(model=str(model))) as collection:
        collection.add_records(docs)
    return folder


def eventually(
    condition: Callable[[], Any], what: str, seconds: float = SERVER_START_SECONDS
) -> Any:
    """Poll `condition` until it is truthy (its value), failing after a generous deadline."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = {"d1": "apple banana", "d2": "apple", "d3": "cherry", "d4": "durian"}
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs.items())
    )
    queries = {"q1": "cherry", "q2": "durian", "q3": "unjudged"}
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items())
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td3\t2\nq1\td1\t1\nq2\td2\t1\n"
    )
    return folder
