"""Model collapse (Shumailov et al., Nature 2024): the Gaussian-mixture demonstration (gmm.py), the symptoms
in corpus statistics (symptoms.py: tail loss, distinct n-grams, rare tokens), real corpora as token blocks
(blocks.py), beam-search continuation (generate.py), the `collapse` section and per-generation measures of
recipe collapse (config.py, measure.py), and figures (plots.py). The recipe itself is
selfimprove.recipes.collapse, its trainer selfimprove.train.causal_lm, per-block perplexity
selfimprove.sampling.perplexity, and the collapse monitor of the iterative recipe selfimprove.suites.perplexity."""
