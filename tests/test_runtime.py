"""The runtime under the embedder: ONNX Runtime's graph equals torch's model, is exported once per
weights and cached, a damaged or unwritable cache is handled, failures fall back to torch with
one warning, and int8 is recorded in a store's recipe and never mixed with fp32."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer import Collection, Settings
from indexer.embedding import onnx_runtime
from indexer.embedding.embedder import Embedder
from indexer.embedding.onnx_cache import GraphCache, GraphKey
from indexer.embedding.onnx_export import GraphExportError
from indexer.embedding.runtime import RuntimeUnavailableError
from indexer.settings import CACHE_ENV, SettingsError, resolve_runtime
from store.errors import RecipeMismatchError
from store.recipe import Recipe
from tests.conftest import tiny_loaded

TEXTS = ["Hi.", "Supersonic flow over a slender wedge makes an attached oblique shock."]
RECORDS = [
    {"id": "a", "text": "Shock waves form ahead of a blunt body in supersonic flow."},
    {"id": "b", "text": "The boundary layer separates behind the shoulder of the wing."},
]


@pytest.fixture
def exports(monkeypatch) -> list[str]:
    """The precisions of every ONNX export made while the test runs."""
    made: list[str] = []
    real = onnx_runtime.export_graph

    def counting(model, precision, metadata, path):
        made.append(precision)
        real(model, precision, metadata, path)

    monkeypatch.setattr(onnx_runtime, "export_graph", counting)
    return made


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder for this test alone."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def warnings_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if "WARNING" in line]


def test_onnx_graph_gives_torch_vectors_and_token_states_to_1e5(tiny: Embedder) -> None:
    on_torch = Embedder(tiny_loaded(runtime="torch"), chunk_tokens=48, overlap=8)
    assert tiny.loaded.runtime.name == "onnxruntime" and on_torch.loaded.runtime.name == "torch"
    np.testing.assert_allclose(tiny.embed(TEXTS), on_torch.embed(TEXTS), atol=1e-5)
    views = tiny.token_embeddings(TEXTS[1]), on_torch.token_embeddings(TEXTS[1])
    np.testing.assert_allclose(views[0].vectors, views[1].vectors, atol=1e-5)
    assert tiny.recipe.runtime == "onnxruntime" and tiny.recipe.precision == "fp32"


def test_second_load_reuses_the_cached_graph(own_cache, exports, capsys) -> None:
    first = tiny_loaded()
    second = tiny_loaded()
    assert exports == ["fp32"], "exported once, then read from the cache"
    assert sorted(p.suffix for p in (own_cache / "onnx").iterdir()) == [".json", ".onnx"]
    ids = np.array([[101, 2023, 2003, 102]], np.int64)
    np.testing.assert_array_equal(
        first.runtime.hidden(ids, np.ones_like(ids)), second.runtime.hidden(ids, np.ones_like(ids))
    )
    assert warnings_in(capsys.readouterr().err) == []


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage sidecar"])
def test_damaged_cache_file_is_exported_again(
    damage, tiny, onnx_cache, own_cache, exports, capsys
) -> None:
    shutil.copytree(onnx_cache / "onnx", own_cache / "onnx")
    graph = GraphCache(own_cache / "onnx").path(GraphKey(tiny.loaded.fingerprint, "fp32"))
    data = bytearray(graph.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "truncate":
        graph.write_bytes(bytes(data[: len(data) // 2]))
    else:
        graph.with_suffix(".json").write_text("{not json")
    rebuilt = Embedder(tiny_loaded(), chunk_tokens=48, overlap=8)
    assert exports == ["fp32"]
    assert len(warnings_in(capsys.readouterr().err)) == 1
    np.testing.assert_allclose(rebuilt.embed(TEXTS), tiny.embed(TEXTS), atol=1e-6)
    tiny_loaded()
    assert exports == ["fp32"], "the rebuilt file is sound"


def test_unwritable_cache_folder_exports_for_this_process_with_one_warning(
    tmp_path, monkeypatch, exports, capsys
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder would be below a file: it cannot be created")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    loaded = tiny_loaded()
    assert loaded.runtime.name == "onnxruntime" and exports == ["fp32"]
    errors = warnings_in(capsys.readouterr().err)
    assert len(errors) == 1 and "cannot write the ONNX cache" in errors[0]
    assert blocker.read_text().startswith("the cache folder")


def test_failed_export_falls_back_to_torch_with_one_warning(own_cache, monkeypatch, capsys):
    def failing(*args):
        raise GraphExportError("ONNX export failed: RuntimeError: unsupported operator")

    monkeypatch.setattr(onnx_runtime, "export_graph", failing)
    loaded = tiny_loaded()
    assert loaded.runtime.name == "torch"
    errors = warnings_in(capsys.readouterr().err)
    assert len(errors) == 1 and "unsupported operator" in errors[0]
    assert Embedder(loaded, chunk_tokens=48, overlap=8).recipe.runtime == "torch"


def test_graph_onnx_runtime_cannot_load_falls_back_to_torch_with_one_warning(
    tiny, monkeypatch, capsys
) -> None:
    def refusing(path, key, threads):
        raise onnx_runtime.GraphLoadError(f"{path}: INVALID_GRAPH")

    monkeypatch.setattr(onnx_runtime.OnnxRuntime, "open", refusing)
    loaded = tiny_loaded()
    assert loaded.runtime.name == "torch"
    assert len(warnings_in(capsys.readouterr().err)) == 2, "damaged cache, then the fallback"


def test_int8_and_explicit_onnxruntime_fail_instead_of_falling_back(own_cache, monkeypatch):
    def failing(*args):
        raise GraphExportError("ONNX export failed: no exporter")

    monkeypatch.setattr(onnx_runtime, "export_graph", failing)
    with pytest.raises(RuntimeUnavailableError, match="int8 needs onnxruntime"):
        tiny_loaded(precision="int8")
    with pytest.raises(SettingsError, match="runtime onnxruntime cannot run"):
        tiny_loaded(runtime="onnxruntime")


@pytest.mark.parametrize(
    ("runtime", "device", "precision", "expected"),
    [
        ("auto", "cpu", "fp32", "onnxruntime"),
        ("auto", "cpu", "int8", "onnxruntime"),
        ("auto", "cpu", "bf16", "torch"),
        ("auto", "cuda", "fp32", "torch"),
        ("torch", "cpu", "fp32", "torch"),
        ("torch", "cpu", "int8", "precision int8 needs runtime onnxruntime"),
        ("onnxruntime", "cpu", "bf16", "precision bf16 needs runtime torch"),
        ("onnxruntime", "cuda", "fp32", "runs on the CPU"),
    ],
)
def test_runtime_choice_for_device_and_precision(runtime, device, precision, expected) -> None:
    if expected in ("torch", "onnxruntime"):
        assert resolve_runtime(runtime, device, precision) == expected
    else:
        with pytest.raises(SettingsError, match=expected):
            resolve_runtime(runtime, device, precision)


def test_int8_store_records_its_recipe_is_queried_in_int8_and_refuses_fp32(
    tmp_path, tiny_model_dir
) -> None:
    store = tmp_path / "store"
    with Collection(store, Settings(model=str(tiny_model_dir), precision="int8")) as built:
        built.add_records(RECORDS)
        assert built.recipe.precision == "int8" and built.recipe.runtime == "onnxruntime"
    with Collection(store) as reader:
        assert {hit.doc_id for hit in reader.search("shock waves", k=2)} == {"a", "b"}
        assert reader.embedder.loaded.precision == "int8"
    with (
        Collection(store, Settings(precision="fp32")) as mixed,
        pytest.raises(RecipeMismatchError, match="int8 on onnxruntime.*differs in precision"),
    ):
        mixed.search("shock waves")
    with (
        Collection(store, Settings(precision="fp32")) as writer,
        pytest.raises(RecipeMismatchError, match="precision"),
    ):
        writer.add_records([{"id": "c", "text": "Another fp32 vector."}])


def test_fp32_vectors_of_both_runtimes_share_a_store(tmp_path, tiny_model_dir) -> None:
    store = tmp_path / "store"
    with Collection(store, Settings(model=str(tiny_model_dir), runtime="torch")) as built:
        built.add_records(RECORDS[:1])
        assert built.recipe.runtime == "torch"
    with Collection(store) as default:
        default.add_records(RECORDS[1:])
        assert default.embedder.loaded.runtime.name == "onnxruntime"
        assert {hit.doc_id for hit in default.search("boundary layer", k=2)} == {"a", "b"}
        assert default.recipe.runtime == "torch", "the recipe names what made the first vectors"


def test_recipe_of_a_store_older_than_runtimes_reads_as_torch_fp32(tiny: Embedder) -> None:
    saved = tiny.recipe.to_dict()
    del saved["runtime"], saved["precision"]
    old = Recipe.from_dict(saved)
    assert (old.runtime, old.precision) == ("torch", "fp32")
    assert old.differences(tiny.recipe) == []
    int8 = Recipe.from_dict({**saved, "precision": "int8", "runtime": "onnxruntime"})
    assert old.differences(int8) == ["precision"]
