"""Model collapse (Shumailov et al., Nature 2024): the Gaussian-mixture demonstration (gmm.py), per-block
perplexity (perplexity.py), corpus statistics (corpus.py: tail loss, distinct n-grams, rare tokens), real
corpora as token blocks (corpora.py), beam-search continuation (generate.py), training on blocks (train.py),
the recursive training of strategy `collapse` (recursion.py, config.py, measure.py) and the collapse monitor
of the other strategies (monitor.py)."""
