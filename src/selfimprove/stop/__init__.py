"""STOP, the Self-Taught Optimizer (Zelikman et al., COLM 2024): an improver program that calls a language
model improves programs under a utility, then improves itself under a meta-utility; the model is never
trained. Every improver and every candidate solution runs in selfimprove.sandbox.

    tasks/        downstream tasks (lpn, three_sat, max_cut, grid_dist): seed solution, the utility shown to
                  the model, seeded instance halves (validation; hidden test), a scorer run in the tester
    scoring.py    a solution's utility on one half, computed by the harness from checked values
    channel.py    an improver run: the budgeted host channel for its model and utility calls (replay)
    _improver_stub.py  the candidate-side program that runs the improver in the sandbox
    tamper.py     tamper kinds and the static scan of a program's source
    meta.py       utility, meta-utility, one round of self-improvement; one attempt record per run
    rounds.py     T rounds with resumable stages; report.py: the tables of the report
    programs/     the seed improver, and the scaffold templates (read as text, never imported)
    scaffold.py   the scaffold language of the embedded default: one settings line per program
    proposer_corpus.py, proposer.py   the tiny proposer: its ground-truth corpus, tokenizer and training
"""
