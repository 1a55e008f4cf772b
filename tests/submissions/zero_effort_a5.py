# ruff: noqa
# Assignment 5 with no work of its own: gensim's subsampling formula (the C tool's, not the
# paper's), a loss with the sign of the negatives wrong, and classifiers that call every review
# positive.
import torch
import torch.nn.functional as F


# %%
def keep_probability(counts, t=1e-5):
    share = counts.double() / counts.sum()
    keep = (torch.sqrt(share / t) + 1) * t / share  # gensim / word2vec.c
    return torch.where(counts > 0, keep.clamp(max=1.0), torch.ones_like(keep))


def sgns_loss(center, context, negatives):
    pos = F.logsigmoid((center * context).sum(-1))
    neg = F.logsigmoid((negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(pos + neg).mean()


# %%
from seqbook.checks import course


class Positive(torch.nn.Module):  # no training: every snippet is positive
    def forward(self, h, g, mask):
        return torch.ones(len(h), dtype=torch.long)


def train_fusion(h, g, mask, y, seed=0):
    return {"encoder": Positive(), "glove": Positive(), "fused": Positive()}


print(course.check("subsampling", keep_probability))
print(course.check("sgns_loss", sgns_loss))
