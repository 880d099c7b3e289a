"""The encoder run by torch itself, on the CPU or CUDA, in fp32 or bf16."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class TorchRuntime:
    """Last hidden states from the loaded torch model, on its device."""

    name = "torch"

    def __init__(self, model: PreTrainedModel, device: torch.device, precision: str) -> None:
        self._model = model
        self._device = device
        self.precision = precision

    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> torch.Tensor:
        """(batch, seq, dim) float32 last hidden states, left on the model's device."""
        ids_tensor = to_device(ids, self._device)
        with torch.inference_mode():
            output = self._model(
                input_ids=ids_tensor,
                attention_mask=to_device(mask, self._device),
                token_type_ids=torch.zeros_like(ids_tensor),
            )
        return output.last_hidden_state.float()


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on `device`: on CUDA copied from pinned memory without waiting (the copy is
    ordered on the stream before the kernels that read it, and the host goes on preparing the
    next batch); on the CPU the array itself, not copied. Unmeasured on a GPU here."""
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)
