"""`semsearch distill`: a student learns its teacher's vectors on the user's texts, resumes after an
interruption, and its folder is a model like any other; bad input is refused in one line."""

from __future__ import annotations

import errno
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from tokenizers import BertWordPieceTokenizer
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizerFast,
    GPT2Config,
    GPT2Model,
)

from indexer.cli.app import cli
from indexer.distillation import training
from indexer.distillation.corpus import DistillationError
from indexer.distillation.job import distill, work_folder
from indexer.distillation.training import TrainingPlan
from indexer.embedding.embedder import Embedder
from indexer.embedding.model import fallback_model_path
from indexer.settings import DISTILL_INIT
from tests.conftest import read_only

WORDS = {
    "subject": ["the pilot", "a wing", "the engine", "the student", "a teacher", "the river"],
    "verb": ["lifts", "heats", "carries", "measures", "reads", "cools"],
    "object": ["the air", "a heavy load", "the boundary layer", "an old book", "the water"],
    "tail": ["at high speed", "in the morning", "near the shore", "with great care", ""],
}
QUICK = {"batch": 8, "learning_rate": 3e-3, "warmup": 2, "report_seconds": 3600}


def sentences(count: int, seed: int) -> list[str]:
    pick = random.Random(seed).choice
    return [" ".join(pick(WORDS[part]) for part in WORDS).strip() + "." for _ in range(count)]


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> Path:
    """A JSONL file of 40 short documents of two or three sentences each."""
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl"
    lines = sentences(110, seed=1)
    with open(path, "w", encoding="utf-8") as out:
        for number in range(40):
            text = " ".join(lines[number * 2 : number * 2 + 2 + number % 2])
            out.write(json.dumps({"id": f"d{number}", "text": text}) + "\n")
    return path


def bert_folder(folder: Path, width: int, seed: int) -> Path:
    """A random 2-layer BERT of `width` with the real uncased vocabulary, saved as a folder."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=width,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * width,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(fallback_model_path()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A 48-wide tiny BERT standing in for a sentence-embedding teacher (fast)."""
    return bert_folder(tmp_path_factory.mktemp("teacher"), 48, seed=7)


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A 32-wide tiny BERT to teach."""
    return bert_folder(tmp_path_factory.mktemp("student"), 32, seed=3)


def run(
    documents: Path, out: Path, teacher: Path, student: Path, init: str = DISTILL_INIT, **plan
) -> dict:
    """A quick `distill` of `student` towards `teacher` on `documents` into `out`."""
    return distill(
        [str(documents)],
        out,
        TrainingPlan(**{**QUICK, **plan}),
        teacher_model=str(teacher),
        student_model=str(student),
        init=init,
        text_tokens=24,
        device="cpu",
    )


def small_run(documents: Path, out: Path, teacher: Path, student: Path) -> list[str]:
    """`distill` arguments for a small run of `student` on `documents` into `out`."""
    return [
        str(documents),
        "--out",
        str(out),
        "--teacher",
        str(teacher),
        "--student",
        str(student),
        "--batch",
        "8",
        "--text-tokens",
        "24",
    ]


def agreement(model: Path, teacher: Path, projection: np.ndarray, texts: list[str]) -> float:
    """Mean cosine between a model's vectors and the teacher's projected ones on `texts`."""
    mine = Embedder.load(str(model), device="cpu", quiet=True, runtime="torch").embed(texts)
    theirs = Embedder.load(str(teacher), device="cpu", quiet=True, runtime="torch").embed(texts)
    theirs = theirs @ projection.T
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    return float((mine * theirs).sum(axis=1).mean())


def test_a_distilled_student_is_closer_to_its_teacher_on_texts_it_never_saw(
    documents, teacher, student, tmp_path
):
    out = tmp_path / "distilled"
    manifest = run(documents, out, teacher, student, steps=25)
    projection = np.load(out / manifest["projection"]["file"], allow_pickle=False)
    unseen = sentences(30, seed=99)
    before = agreement(student, teacher, projection, unseen)
    after = agreement(out, teacher, projection, unseen)
    assert after > before + 0.1
    assert manifest["agreement"]["after"] > manifest["agreement"]["before"]
    assert manifest["training"]["steps"] == 25
    assert not work_folder(out).exists()


def test_an_interrupted_run_resumes_from_its_checkpoint(
    documents, teacher, student, tmp_path, monkeypatch
):
    whole = run(documents, tmp_path / "whole", teacher, student, steps=6)
    rate, taken = training._rate, []

    def interrupted_at_step_4(plan, step, seconds):
        if step == 4:
            raise KeyboardInterrupt
        taken.append(step)
        return rate(plan, step, seconds)

    monkeypatch.setattr(training, "_rate", interrupted_at_step_4)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C: the steps done are checkpointed
        run(documents, out, teacher, student, steps=6)
    assert not out.exists()
    assert (work_folder(out) / training.CHECKPOINT).exists()
    monkeypatch.setattr(training, "_rate", rate)
    calls = []
    monkeypatch.setattr(training, "_rate", lambda *a: calls.append(a[1]) or rate(*a))
    resumed = run(documents, out, teacher, student, steps=6, checkpoint_seconds=0)
    assert taken == [0, 1, 2, 3]
    assert calls == [4, 5]
    assert resumed["training"]["steps"] == 6
    assert resumed["training"]["final_loss"] == pytest.approx(whole["training"]["final_loss"])
    both = [load_file(folder / "model.safetensors") for folder in (out, tmp_path / "whole")]
    for name, weights in both[0].items():
        if name.startswith("pooler."):  # unused and untrained (random when a folder lacks it)
            continue
        assert torch.allclose(weights, both[1][name], atol=1e-5), name


def test_a_student_started_from_the_teachers_reduced_weights_begins_far_closer(
    documents, teacher, student, tmp_path
):
    plain = run(documents, tmp_path / "plain", teacher, student, steps=0)
    reduced = run(documents, tmp_path / "reduced", teacher, student, init="teacher", steps=0)
    assert reduced["agreement"]["before"] > plain["agreement"]["before"] + 0.3
    assert reduced["projection"]["kind"] == "kept dimensions"
    config = json.loads((tmp_path / "reduced" / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (32, 2)


def test_the_output_folder_loads_with_model_and_the_recipe_names_the_teacher(
    documents, teacher, student, tmp_path
):
    out = tmp_path / "distilled"
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "distill",
            *small_run(documents, out, teacher, student),
            "--steps",
            "3",
            "--device",
            "cpu",
        ],
    )
    assert made.exit_code == 0, made.output
    assert f"wrote {out}: 3 steps" in made.output
    store = tmp_path / "store"
    indexed = runner.invoke(
        cli, ["index", str(documents), "--store", str(store), "--model", str(out), "--quiet"]
    )
    assert indexed.exit_code == 0, indexed.output
    stats = runner.invoke(cli, ["stats", "--store", str(store), "--json"])
    recipe = json.loads(stats.output)["recipe"]
    assert recipe["model"] == str(out)
    assert recipe["distilled"]["teacher"] == str(teacher)
    assert recipe["distilled"]["steps"] == 3
    with read_only(store) as db:
        assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 40
    found = runner.invoke(cli, ["search", "the pilot", "--store", str(store), "--json"])
    assert found.exit_code == 0, found.output


def test_a_store_teaches_from_its_chunks(documents, teacher, student, tmp_path):
    store = tmp_path / "store"
    indexed = CliRunner().invoke(
        cli, ["index", str(documents), "--store", str(store), "--model", str(student), "--quiet"]
    )
    assert indexed.exit_code == 0, indexed.output
    with read_only(store) as db:
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    manifest = run(store, tmp_path / "o", teacher, student, steps=1)
    assert manifest["corpus"]["documents"] == chunks


def refused(arguments: list[str]) -> str:
    """The one-line error of a distill command that must fail with exit code 2."""
    result = CliRunner().invoke(cli, ["distill", *arguments, "--steps", "2", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def test_an_empty_corpus_is_refused_in_one_line(teacher, student, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"id": "a", "text": "   "}) + "\n")
    message = refused(
        [
            str(empty),
            "--out",
            str(tmp_path / "o"),
            "--teacher",
            str(teacher),
            "--student",
            str(student),
        ]
    )
    assert "nothing to learn from" in message
    assert not (tmp_path / "o").exists() and not work_folder(tmp_path / "o").exists()


def test_a_teacher_that_is_not_a_bert_family_encoder_is_refused(documents, student, tmp_path):
    gpt = tmp_path / "gpt"
    GPT2Model(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=30522)).save_pretrained(gpt)
    AutoTokenizer.from_pretrained(fallback_model_path()).save_pretrained(gpt)
    message = refused(
        [
            str(documents),
            "--out",
            str(tmp_path / "o"),
            "--teacher",
            str(gpt),
            "--student",
            str(student),
        ]
    )
    assert f"teacher {gpt} is a gpt2 model, not a BERT-family encoder" in message


def test_an_existing_output_folder_is_never_touched(documents, teacher, student, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    message = refused(
        [str(documents), "--out", str(out), "--teacher", str(teacher), "--student", str(student)]
    )
    assert f"{out} already exists" in message
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    assert (out / "mine.txt").read_text() == "keep me"


def test_a_full_disk_mid_checkpoint_is_one_line_and_leaves_nothing_half_written(
    documents, teacher, student, tmp_path, monkeypatch
):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "o"
    message = refused(small_run(documents, out, teacher, student))
    assert "cannot write the checkpoint at step 2" in message
    assert "No space left on device" in message
    assert not out.exists()
    assert list(work_folder(out).iterdir()) == []


def test_a_student_with_its_own_tokenizer_learns_from_a_teacher_with_another(
    documents, teacher, tmp_path
):
    wordpieces = BertWordPieceTokenizer(lowercase=True)
    wordpieces.train_from_iterator(sentences(200, seed=2), vocab_size=300, min_frequency=1)
    tokenizer = BertTokenizerFast(tokenizer_object=wordpieces._tokenizer)
    tokenizer.add_special_tokens(
        {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}
    )
    own = tmp_path / "own"
    torch.manual_seed(4)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(own)
    tokenizer.save_pretrained(own)
    manifest = run(documents, tmp_path / "o", teacher, own, steps=15)
    assert manifest["agreement"]["after"] > manifest["agreement"]["before"]
    written = AutoTokenizer.from_pretrained(tmp_path / "o")
    assert written.get_vocab() == tokenizer.get_vocab()


def test_a_student_wider_than_its_teacher_cannot_learn_a_projection(documents, teacher, tmp_path):
    wide = bert_folder(tmp_path / "wide", 64, seed=5)
    with pytest.raises(DistillationError, match="cannot be projected to the student's 64"):
        run(documents, tmp_path / "o", teacher, wide, steps=1)
