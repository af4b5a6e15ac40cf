"""`critic eval`: the harness that fills the paper's tables.

metrics (BLEU, GLEU, METEOR, ROUGE-L), answers (the VQA matching rule), readers (each
dataset's published format), runner (a model over a dataset, resumable JSONL), scoring
(records to numbers), report (tables beside the paper's rows), paper (the paper's numbers).
"""
