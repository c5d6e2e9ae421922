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


def nucleus(scores: torch.Tensor, top_p: float, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: the k most probable token ids, their softmax(scores) probabilities with the tokens outside the
    nucleus set to 0, and whether the row's whole nucleus lies within those k."""
    top, ids = scores.topk(k, dim=-1)
    p = (top - torch.logsumexp(scores, dim=-1, keepdim=True)).exp()
    p = torch.where(p.cumsum(-1) - p < top_p, p, torch.zeros_like(p))
    complete = (p.sum(-1) >= top_p) | (k == scores.shape[-1])
    return ids, p, complete


def _inverse_cdf(ids: torch.Tensor, p: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    cdf = p.cumsum(-1)
    at = torch.searchsorted(cdf, uniform * cdf[:, -1:]).clamp(max=p.shape[-1] - 1)
    return ids.gather(-1, at).squeeze(-1)


def draw(scores: torch.Tensor, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row from softmax(scores) restricted to its top-p nucleus (top_p = 1: the full softmax)."""
    uniform = torch.rand((scores.shape[0], 1), generator=generator, device=scores.device)
    vocab = scores.shape[-1]
    if top_p >= 1.0:
        ids = torch.arange(vocab, device=scores.device).expand_as(scores)
        return _inverse_cdf(ids, torch.softmax(scores, dim=-1), uniform)
    ids, p, complete = nucleus(scores, top_p, min(CANDIDATES, vocab))
    tokens = _inverse_cdf(ids, p, uniform)
    if not bool(complete.all()):
        rest = (~complete).nonzero().squeeze(-1)
        ids_all, p_all, _ = nucleus(scores[rest], top_p, vocab)
        tokens[rest] = _inverse_cdf(ids_all, p_all, uniform[rest])
    return tokens
