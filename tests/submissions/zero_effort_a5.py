# ruff: noqa
# Assignment 5 with no work of its own: pairs from a one-line guess, a loss with the sign of the
# negatives wrong, and word vectors that are the practice groups written down (one-hot).
import torch
import torch.nn.functional as F


# %%
def skipgram_pairs(ids, window):
    return torch.tensor([(a, b) for a, b in zip(ids, ids[1:])], dtype=torch.long).reshape(-1, 2)


def sgns_loss(center, context, negatives):
    pos = F.logsigmoid((center * context).sum(-1))
    neg = F.logsigmoid((negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(pos + neg).mean()


# %%
from seqbook.checks import course

practice = course.practice("synonym_experiment")


def train_word2vec(corpus, vocab_size, seed=0):
    return F.one_hot(torch.tensor(practice["groups"])).double() + 0.01 * torch.randn(vocab_size, 12)


print(course.check("skipgram_pairs", skipgram_pairs))
print(course.check("sgns_loss", sgns_loss))
print(course.check("synonym_experiment", train_word2vec(None, 48)))
