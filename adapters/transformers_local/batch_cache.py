"""The running batch's KV cache: one row per sequence, left-padded to a common length."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig
from transformers.cache_utils import DynamicCache, DynamicLayer


class BatchCache:
    """A ``DynamicCache`` whose rows are left-padded to one width, and the mask of their real positions.

    Rows join (``extend``) and leave (``keep``) between decoding steps; columns
    that are padding in every row are trimmed as rows leave. Only models whose
    cache is made of plain ``DynamicLayer`` (no sliding windows, no recurrent
    state) can be batched this way: see ``supports``.
    """

    def __init__(self, cache: DynamicCache, mask: torch.Tensor) -> None:
        cache.layers = [_GrowingLayer.adopt(layer) if type(layer) is DynamicLayer else layer for layer in cache.layers]
        self.cache = cache
        self.mask = mask  # rows x positions, 1 where a row has a real token

    @staticmethod
    def supports(config: PretrainedConfig) -> bool:
        probe = DynamicCache(config=config)
        return bool(probe.layers) and all(type(layer) is DynamicLayer for layer in probe.layers)

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    def next_mask(self) -> torch.Tensor:
        """The mask for a decoding step: every row gets one more real position."""
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.rows, 1))], dim=1)
        return self.mask

    def extend(self, other: BatchCache) -> None:
        """Append ``other``'s rows after this cache's, left-padding the narrower side."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(_layers(self.cache), _layers(other.cache), strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, width), _left_pad(theirs.keys, width)])
            mine.values = torch.cat([_left_pad(mine.values, width), _left_pad(theirs.values, width)])
        self.mask = torch.cat([_left_pad(self.mask, width), _left_pad(other.mask, width)])

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (at least one), in that order; trim all-padding columns."""
        index = torch.tensor(rows, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        start = int(mask.any(dim=0).nonzero()[0, 0])
        for layer in _layers(self.cache):
            assert layer.keys is not None and layer.values is not None
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self.mask = mask[:, start:]


class _GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` that appends each step's keys and values into spare room.

    ``DynamicLayer`` concatenates, copying the whole cache at every decoding
    step; this one copies only when its room is used up (every ``_SPARE``
    steps), or when ``BatchCache`` has replaced its tensors (rows joining or
    leaving). ``keys`` and ``values`` are views of the used part of the room.
    """

    _SPARE = 32

    @classmethod
    def adopt(cls, layer: DynamicLayer) -> _GrowingLayer:
        grown = cls()
        grown.keys, grown.values, grown.is_initialized = layer.keys, layer.values, layer.is_initialized
        if layer.is_initialized:
            grown.dtype, grown.device = layer.dtype, layer.device
        return grown

    def __init__(self) -> None:
        super().__init__()
        self._room: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object, **kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values = self.keys, self.values
        if not self.is_initialized or keys is None or values is None or keys.numel() == 0:
            return super().update(key_states, value_states)
        used, new = keys.shape[-2], key_states.shape[-2]
        room = self._room
        if room is None or room[0].data_ptr() != keys.data_ptr() or room[0].shape[-2] < used + new:
            shape = (*keys.shape[:-2], used + new + self._SPARE, keys.shape[-1])
            room = (keys.new_empty(shape), values.new_empty(shape))
            room[0][..., :used, :] = keys
            room[1][..., :used, :] = values
            self._room = room
        room[0][..., used : used + new, :] = key_states
        room[1][..., used : used + new, :] = value_states
        self.keys, self.values = room[0][..., : used + new, :], room[1][..., : used + new, :]
        return self.keys, self.values


def _layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers, which ``BatchCache.supports`` checked are plain ``DynamicLayer``."""
    return [layer for layer in cache.layers if isinstance(layer, DynamicLayer)]


def _left_pad(tensor: torch.Tensor | None, width: int) -> torch.Tensor:
    """Left-pad the sequence axis (last for masks, second to last for keys/values) to ``width``."""
    assert tensor is not None
    if tensor.dim() == 2:
        return F.pad(tensor, (width - tensor.shape[1], 0))
    return F.pad(tensor, (0, 0, width - tensor.shape[-2], 0))
