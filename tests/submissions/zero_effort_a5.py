# ruff: noqa
# Assignment 5 with no work of its own: gensim's subsampling formula (the C tool's, not the
# paper's), a loss with the sign of the negatives wrong, and word vectors that are the practice
# groups written down (one-hot).
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

practice = course.practice("synonym_experiment")


def train_word2vec(corpus, vocab_size, seed=0):
    return F.one_hot(torch.tensor(practice["groups"])).double() + 0.01 * torch.randn(vocab_size, 12)


print(course.check("subsampling", keep_probability))
print(course.check("sgns_loss", sgns_loss))
print(course.check("synonym_experiment", train_word2vec(None, 48)))
