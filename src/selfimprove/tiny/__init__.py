"""The tiny seed model of the embedded default: a word-level tokenizer that reads numbers digit by digit
(tokenizer.py), a standard HF Llama of about a million parameters (model.py), its pretraining on the arith
seed split with the world's skill data mixed in (pretrain.py), and the shipped checkpoint (seed.py)."""
