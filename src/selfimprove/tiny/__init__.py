"""The tiny seed model of the embedded default: a small word-level tokenizer and a standard HF Llama."""
