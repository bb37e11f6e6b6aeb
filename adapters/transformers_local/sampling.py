"""Choosing each row's next token from one batch of logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from adapters.transformers_local.options import GenerationOptions


def sample(
    logits: torch.Tensor, options: Sequence[GenerationOptions], generators: Sequence[torch.Generator]
) -> list[int]:
    """The next token of every row of ``logits`` (rows x vocabulary).

    Greedy rows take the argmax; sampling rows invert their CDF at one uniform
    draw from the row's own generator. One draw per token keeps ``seed``
    repeatable and costs far less than a ``multinomial`` call per row.
    """
    chosen = logits.argmax(dim=-1)
    rows = [i for i, option in enumerate(options) if not option.greedy]
    if rows:
        device = logits.device
        index = torch.tensor(rows, device=device)
        temperature = torch.tensor([[options[i].temperature] for i in rows], device=device)
        probs = torch.softmax(logits.index_select(0, index).float() / temperature, dim=-1)
        top_p = torch.tensor([[options[i].top_p] for i in rows], device=device)
        order: torch.Tensor | None = None
        if bool((top_p < 1).any()):
            probs, order = probs.sort(dim=-1, descending=True)
            # keep the smallest head of the ranking whose mass reaches top_p
            probs = probs.masked_fill(probs.cumsum(dim=-1) - probs > top_p, 0.0)
        cdf = probs.double().cumsum(dim=-1)
        draws = torch.stack([torch.rand((), generator=generators[i], device=device) for i in rows])
        targets = (draws.double() * cdf[:, -1]).unsqueeze(1)
        picked = torch.searchsorted(cdf, targets, right=True).clamp(max=cdf.shape[1] - 1)
        if order is not None:
            picked = order.gather(1, picked)
        chosen[index] = picked.squeeze(1)
    tokens: list[int] = chosen.tolist()
    return tokens
