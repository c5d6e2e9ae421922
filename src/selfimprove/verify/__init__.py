"""Verification beyond the final answer: the step check of arithmetic chains of thought (steps.py)."""
