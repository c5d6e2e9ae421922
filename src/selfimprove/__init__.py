"""selfimprove: run LLM self-improvement loops and measure whether the model really got better."""

__version__ = "0.1.0"
