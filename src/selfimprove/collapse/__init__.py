"""Model collapse (Shumailov et al., Nature 2024): the Gaussian-mixture demonstration, per-block
perplexity, corpus statistics (tail loss, distinct n-grams, rare tokens) and beam-search corpus
generation. The recursive training loop itself lives elsewhere and calls these pieces."""
