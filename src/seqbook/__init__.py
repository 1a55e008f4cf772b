"""seqbook: the small, tested package behind the book's chapters.

Modules, in layers (arrows point down: a module imports only from its own layer or below):

- base: `runtime` (device, seeds, profiles, threads), `cache` (digests, atomic writes),
  `validate` (input checks at public entry points), `data`, `hf` (the one Hugging Face helper:
  encoder loading that never downloads, quiet logging, tokenizer checks), `train` (the training
  loop, typed run records, checkpoints), `viz` (figures and `glue`), `results`, `benchmark`.
- one module per chapter: `baseline` (1), `embeddings` (2), `attention` (3), `lstm` (4),
  `models` and `bilstm_train` (5), `albert` (6), `pretraining` (objectives) and `pretrain_run` /
  `pretrain_study` (the run and its studies) (7), `albert_bilstm` and `finetune` (8), `fusion` (9).
- course tooling on top: `checks` (exercise checks), `grading` (the sandboxed grader).
"""

__version__ = "0.2.0"
