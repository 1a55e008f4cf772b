# ruff: noqa
# Assignment 4 with no work of its own: an unweighted mean for the scalar mix, torch's own LSTM
# for the parameter count (no peepholes), and heads that call every review positive.
import torch


# %%
def scalar_mix(hidden_states, weights, gamma):
    return hidden_states.mean(0)


def head_parameters(H, hidden, layers, classes, bidirectional):
    lstm = torch.nn.LSTM(H, hidden, layers, bidirectional=bidirectional)
    linear = torch.nn.Linear(hidden * (2 if bidirectional else 1), classes)
    return sum(p.numel() for p in [*lstm.parameters(), *linear.parameters()])


# %%
from seqbook.checks import course


class Positive(torch.nn.Module):  # no training: every snippet is positive
    def forward(self, h, mask):
        return torch.ones(len(h), dtype=torch.long)


def train_heads(h, mask, y, seed=0):
    return {"bilstm": Positive(), "linear": Positive()}


print(course.check("scalar_mix", scalar_mix))
print(course.check("head_parameters", head_parameters))
