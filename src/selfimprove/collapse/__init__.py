"""Model collapse (Shumailov et al., Nature 2024): the Gaussian-mixture demonstration (gmm.py), per-block
perplexity (perplexity.py), corpus statistics (corpus.py: tail loss, distinct n-grams, rare tokens), real
corpora as token blocks (corpora.py), beam-search continuation (generate.py), the `collapse` section and
per-generation measures of recipe collapse (config.py, measure.py; the recipe itself is
selfimprove.recipes.collapse, its trainer selfimprove.train.causal_lm) and the collapse monitor of the
iterative recipe (monitor.py)."""
