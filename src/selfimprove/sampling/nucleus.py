"""Temperature / top-p draws without sorting the whole vocabulary (nucleus sampling, Holtzman et al. 2020).

`TopPLogitsWarper` sorts every row over the full vocabulary and `torch.multinomial` draws through an
exponential per token; with a thousand-token vocabulary and a few hundred rows per step these two cost a
fifth of a tiny model's decoding step. The nucleus is almost always a handful of tokens, so we take the
`CANDIDATES` most probable ones (`topk`), keep a token when the mass of the tokens before it is below top_p
(the rule `TopPLogitsWarper` applies), and fall back to the full vocabulary for any row whose nucleus is
not inside its candidates. The draw is one uniform number per row through the inverse CDF. The resulting
distribution equals softmax(TopPLogitsWarper(scores)) (tested), only the random stream differs.
"""

from __future__ import annotations

import torch

CANDIDATES = 64


def nucleus(scores: torch.Tensor, top_p: float, k: int) -> tuple[torch.Tensor, ...]:
    """Per row: the k most probable token ids, the cumulative softmax(scores) mass along them, how many of them
    form the nucleus (a (rows, 1) count), and whether the row's whole nucleus lies within those k. A token is in
    the nucleus while the mass of the tokens before it is below top_p: the tokens up to and including the first
    whose cumulative mass reaches top_p."""
    p, ids = torch.softmax(scores, dim=-1).topk(k, dim=-1)
    cdf = p.cumsum(-1)
    size = (cdf < top_p).sum(-1, keepdim=True).add_(1).clamp_(max=k)
    complete = (cdf[:, -1] >= top_p) | (k == scores.shape[-1])
    return ids, cdf, size, complete


def _inverse_cdf(ids: torch.Tensor, cdf: torch.Tensor, total: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Per row, the token at which the cumulative mass `cdf` first reaches uniform * total (total <= the row's
    full mass: searching below it never lands past it, which cuts the row at its nucleus)."""
    return ids.gather(-1, torch.searchsorted(cdf, uniform * total)).squeeze(-1)


def _draw_nucleus(scores: torch.Tensor, top_p: float, k: int,
                  uniform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ids, cdf, size, complete = nucleus(scores, top_p, k)
    return _inverse_cdf(ids, cdf, cdf.gather(-1, size - 1), uniform), complete


def draw(scores: torch.Tensor, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row from softmax(scores) restricted to its top-p nucleus (top_p = 1: the full softmax)."""
    uniform = torch.rand((scores.shape[0], 1), generator=generator, device=scores.device)
    vocab = scores.shape[-1]
    if top_p >= 1.0:
        ids = torch.arange(vocab, device=scores.device).expand_as(scores)
        cdf = torch.softmax(scores, dim=-1).cumsum(-1)
        return _inverse_cdf(ids, cdf, cdf[:, -1:], uniform)
    tokens, complete = _draw_nucleus(scores, top_p, min(CANDIDATES, vocab), uniform)
    if not bool(complete.all()):
        rest = (~complete).nonzero().squeeze(-1)
        tokens[rest] = _draw_nucleus(scores[rest], top_p, vocab, uniform[rest])[0]
    return tokens
