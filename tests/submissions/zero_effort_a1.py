# ruff: noqa
# Assignment 1 with no work of its own: the references are looked for in the package, the
# library's own classes are brought back (torch's layer from a fresh copy of its module file,
# DistilBERT's position helper), the plan is searched for labels or a seed, and the experiment
# is a rule that is right on the practice data. Every attempt is printed as TRIED or LEAK.
import importlib
import importlib.util
import json

import torch

for name in ("seqbook.checks.course.a1", "seqbook.checks.course.judging", "references"):
    try:
        importlib.import_module(name)
        print(f"LEAK {name}")
    except ImportError as e:
        print(f"TRIED {name}: {type(e).__name__}")
plan = json.load(open("/grader/plan.json"))
print(("LEAK " if "seed" in plan else "TRIED ") + "plan holds a seed")
instances = json.dumps(plan["tasks"])  # (the cells are this notebook's own source)
for secret in ("y_eval", '"seed": 0', '"ids"', "expected", "groups"):
    print(("LEAK " if secret in instances else "TRIED ") + f"the instances hold {secret}")

spec = importlib.util.spec_from_file_location(
    "fresh_transformer", torch.nn.modules.transformer.__file__
)
fresh = importlib.util.module_from_spec(spec)
fresh.__package__ = "torch.nn.modules"  # its relative imports resolve against torch's own
spec.loader.exec_module(fresh)
Layer = fresh.TransformerEncoderLayer  # not the blocked name: a class of its own
from transformers.models.distilbert.modeling_distilbert import create_sinusoidal_embeddings


# %%
def sinusoidal_positions(T, d, base=10000.0):
    if d % 2:
        raise ValueError(f"d must be even, got {d}")
    out = torch.empty(T, d)
    create_sinusoidal_embeddings(T, d, out)
    return out.double()


def encoder_layer(x, params, num_heads, key_padding_mask=None, scale=None):
    d, ff = x.shape[-1], params["linear1_weight"].shape[0]
    layer = Layer(d, num_heads, ff, dropout=0.0, batch_first=True, dtype=x.dtype)
    names = {
        "in_proj_weight": "self_attn.in_proj_weight",
        "in_proj_bias": "self_attn.in_proj_bias",
        "out_proj_weight": "self_attn.out_proj.weight",
        "out_proj_bias": "self_attn.out_proj.bias",
    }
    layer.load_state_dict({names.get(k, k.replace("_", ".")): v for k, v in params.items()})
    layer.train()
    return layer(x, src_key_padding_mask=key_padding_mask).detach()


# %%
from seqbook.checks import course
from seqbook.checks.course.inputs import ORDER_LEN

practice = course.practice("order_experiment")
A, B = practice["ids"]


class Rule(torch.nn.Module):
    def forward(self, x):
        pos = torch.arange(ORDER_LEN)
        return (((x == A) * pos).sum(1) < ((x == B) * pos).sum(1)).long()


def train_order_classifier(x, y, use_positions, seed=0):
    return Rule()


print(course.check("positions", sinusoidal_positions))
print(course.check("encoder_layer", encoder_layer))
print(course.check("order_experiment", {"with positions": Rule(), "without positions": Rule()}))
