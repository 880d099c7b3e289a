"""The runtime under the embedder: ONNX Runtime's graph equals torch's model, is exported once per
weights and cached, a damaged or unwritable cache is handled, failures fall back to torch with
one warning, int8 is recorded in a store's recipe and never mixed with fp32, and a model whose
facts and graph are cached starts without transformers, loading its weights only when needed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer import Collection, Settings
from indexer.embedding import model as model_module
from indexer.embedding import onnx_export, onnx_runtime
from indexer.embedding.embedder import Embedder
from indexer.embedding.layers import layer_view
from indexer.embedding.model import ModelLoadError
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
    real = onnx_export.export_graph

    def counting(model, precision, metadata, path):
        made.append(precision)
        real(model, precision, metadata, path)

    monkeypatch.setattr(onnx_export, "export_graph", counting)
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

    monkeypatch.setattr(onnx_export, "export_graph", failing)
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

    monkeypatch.setattr(onnx_export, "export_graph", failing)
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


START = """
import sys
from indexer.embedding.embedder import Embedder
embedder = Embedder.load(sys.argv[1], device="cpu", quiet=True)
print(" ".join(repr(float(x)) for x in embedder.embed([sys.argv[2]])[0]))
print(" ".join(name for name in ("torch", "transformers") if name in sys.modules))
"""


def test_a_second_start_runs_from_the_cache_without_torch_and_gives_the_same_vectors(
    own_model_dir, own_cache
) -> None:
    def start() -> tuple[np.ndarray, str]:
        command = [sys.executable, "-c", START, str(own_model_dir), TEXTS[1]]
        lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        vector, imported = [*lines.splitlines(), ""][:2]
        return np.array([float(x) for x in vector.split()]), imported

    (first, full), (second, cached) = start(), start()
    assert full == "torch transformers", "the first start loads the weights"
    assert cached == "", "the second starts from the cached graph: neither torch nor transformers"
    np.testing.assert_array_equal(first, second)
    assert len(list((own_cache / "models").glob("*.json"))) == 1


@pytest.fixture
def full_loads(monkeypatch) -> list[str]:
    """The folders or ids whose weights transformers loads while the test runs."""
    loads: list[str] = []
    real = model_module._from_pretrained

    def counting(source, local_only):
        loads.append(source)
        return real(source, local_only)

    monkeypatch.setattr(model_module, "_from_pretrained", counting)
    return loads


@pytest.fixture(scope="session")
def tiny_dir_graphs(onnx_cache, tiny_model_dir) -> Path:
    """The session cache's graphs, holding the tiny model folder's (exported at most once)."""
    Embedder.load(str(tiny_model_dir), quiet=True)
    return onnx_cache / "onnx"


@pytest.fixture
def own_model_dir(tmp_path, tiny_model_dir, tiny_dir_graphs, own_cache) -> Path:
    """A copy of the tiny model's folder that a test may change, with its graph (and no model
    facts) in the test's own cache."""
    shutil.copytree(tiny_dir_graphs, own_cache / "onnx")
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def other_weights(folder: Path) -> str:
    """Change one weight of the model saved in `folder`; returns the new fingerprint."""
    from transformers import BertModel

    model = BertModel.from_pretrained(folder)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[2023] += 0.5
    model.save_pretrained(folder)
    return model_module.weights_fingerprint(model)


def test_weights_load_late_for_the_layer_views_and_equal_a_full_load(
    own_model_dir, own_cache, full_loads
) -> None:
    full = Embedder.load(str(own_model_dir))
    cached = Embedder.load(str(own_model_dir))
    assert full_loads == [str(own_model_dir)], "the second load came from the cache"
    assert cached.loaded.fingerprint == full.loaded.fingerprint
    np.testing.assert_array_equal(cached.embed(TEXTS), full.embed(TEXTS))
    late, early = layer_view(cached, TEXTS[1]), layer_view(full, TEXTS[1])
    assert len(full_loads) == 2, "the layer view loaded the weights"
    np.testing.assert_allclose(late.vectors, early.vectors, atol=1e-6)


def test_changed_model_files_are_loaded_in_full_never_from_old_facts(
    own_model_dir, own_cache, full_loads
) -> None:
    before = Embedder.load(str(own_model_dir)).loaded.fingerprint
    after = other_weights(own_model_dir)
    loaded = Embedder.load(str(own_model_dir)).loaded
    assert len(full_loads) == 2 and loaded.fingerprint == after != before


def test_weights_changed_after_a_cached_start_are_refused_when_they_load(
    own_model_dir, own_cache, full_loads
) -> None:
    Embedder.load(str(own_model_dir))
    cached = Embedder.load(str(own_model_dir))
    other_weights(own_model_dir)
    with pytest.raises(ModelLoadError, match="changed since it was loaded"):
        layer_view(cached, TEXTS[1])


DAMAGES = ["not json", "a field missing", "a wrong type", "no tokenizer", "an id out of range"]


@pytest.mark.parametrize("damage", [*DAMAGES, "made by another transformers"])
def test_damaged_model_facts_are_ignored_and_recorded_again(
    damage, own_model_dir, own_cache, full_loads
) -> None:
    full = Embedder.load(str(own_model_dir))
    (record,) = (own_cache / "models").glob("*.json")
    facts = json.loads(record.read_text())
    if damage == "not json":
        record.write_text("{not json")
    elif damage == "a field missing":
        del facts["dim"]
    elif damage == "a wrong type":
        facts["dim"] = "32"
    elif damage == "no tokenizer":
        facts["tokenizer_json"] = "{}"
    elif damage == "an id out of range":
        facts["cls_id"] = 10**9
    else:
        facts["made_by"]["transformers"] = "0.0.1"
    if damage != "not json":
        record.write_text(json.dumps(facts))
    again = Embedder.load(str(own_model_dir))
    assert len(full_loads) == 2, "the damaged record was not used"
    np.testing.assert_array_equal(again.embed(TEXTS), full.embed(TEXTS))
    Embedder.load(str(own_model_dir))
    assert len(full_loads) == 2, "the record was written again, sound"


def test_a_hub_id_is_found_in_the_local_hub_cache_even_if_its_snapshot_lacks_files(
    tmp_path, tiny_model_dir, monkeypatch
) -> None:
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--someone--tiny-bert"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model_dir, snapshot)  # and no tf_model.h5 or flax weights
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert model_module._local_folder("someone/tiny-bert") == snapshot
    assert model_module._local_folder("someone/absent") is None
    assert model_module._local_folder("not a repo id!") is None


def test_weights_gone_after_a_cached_start_are_a_model_load_error_not_a_traceback(
    own_model_dir, own_cache, full_loads
) -> None:
    Embedder.load(str(own_model_dir))
    cached = Embedder.load(str(own_model_dir))
    for weights in own_model_dir.glob("*.safetensors"):
        weights.unlink()
    assert cached.embed(TEXTS).shape == (2, 32), "searching needs only the graph"
    with pytest.raises(ModelLoadError, match="cannot load the model's weights"):
        layer_view(cached, TEXTS[1])
