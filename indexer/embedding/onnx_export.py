"""Exporting a loaded BERT encoder to one self-contained ONNX file: fp32 with onnxscript's fusions
for ONNX Runtime, or int8 by dynamic quantization of its MatMuls. Pooling stays outside the graph
(the embedder's), so every pooling and the per-token views use the same graph."""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from indexer.embedding.onnx_cache import INPUTS, OUTPUT
from store.errors import SemsearchError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

MAX_BATCH = 65536  # rows a graph accepts (a bound the exporter needs, far above any batch)


class GraphExportError(SemsearchError):
    """The model could not be exported to ONNX (or quantized); the message says why."""


class _Encoder(torch.nn.Module):
    """The encoder with fixed argument order and one output: the last hidden layer."""

    def __init__(self, bert: PreTrainedModel) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def export_graph(
    model: PreTrainedModel, precision: str, metadata: dict[str, str], path: Path
) -> None:
    """Write `model` (fp32, on the CPU) as an ONNX graph to `path` with `metadata` in its
    metadata_props. `precision` fp32: fused for ONNX Runtime; int8: MatMul weights quantized per
    channel (QInt8, reduce_range), activations quantized per batch at run time."""
    try:
        with tempfile.TemporaryDirectory(prefix="semsearch-export-") as work:
            plain = _export(model, optimize=precision == "int8")
            if precision == "int8":
                _quantized(plain, Path(work), metadata, path)
            else:
                _fused(plain, metadata, path)
    except (RuntimeError, ValueError, TypeError, ImportError, OSError) as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise GraphExportError(f"ONNX export failed: {type(error).__name__}: {first}") from error


def _export(model: PreTrainedModel, optimize: bool):  # -> onnx_ir.Model
    """The dynamo export of the encoder with dynamic batch and sequence axes (`optimize`: folded
    and simplified; the fusions for fp32 do that themselves). Quiet: the exporter's warnings
    about axis names and tree specs are its own business."""
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    positions = int(model.config.max_position_embeddings)
    batch = torch.export.Dim("batch", max=MAX_BATCH)
    seq = torch.export.Dim("seq", max=positions)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping ..."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                _Encoder(model).eval(),
                (ids, mask, torch.zeros_like(ids)),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_shapes={name: {0: batch, 1: seq} for name in INPUTS},
                dynamo=True,
                external_data=False,
                optimize=optimize,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    return program.model


def _fused(plain, metadata: dict[str, str], path: Path) -> None:
    """Attention, SkipLayerNormalization and BiasGelu fused (ONNX Runtime's contrib ops)."""
    import onnx_ir as ir
    from onnxscript.rewriter import ort_fusions

    fused, _ = ort_fusions.optimize_for_ort(plain)
    fused.metadata_props.update(metadata)
    ir.save(fused, path)


def _quantized(plain, work: Path, metadata: dict[str, str], path: Path) -> None:
    """Dynamic int8 quantization of the unfused graph's MatMuls (the variant measured best on an
    AVX2 CPU: per-tensor weights lost far more, make bench)."""
    import onnx
    import onnx_ir as ir
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, quantized = work / "plain.onnx", work / "int8.onnx"
    ir.save(plain, source)
    logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
    try:
        quantize_dynamic(
            source,
            quantized,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        logging.disable(logging.NOTSET)
    graph = onnx.load(quantized)
    onnx.helper.set_model_props(graph, metadata)
    onnx.save(graph, path)
