import itertools

SETTINGS = dict(weight=1, samples=10)
DOMAIN = dict(weight=(0, 1, 2, 3, 4, 5, 6), samples=(10, 20, 40, 100))


def algorithm(train_samples, train_parity, test_samples):
    """Predict test parities with the secret of at most SETTINGS["weight"] bits that makes the fewest errors on
    the first SETTINGS["samples"] training samples (heavier secrets and more samples: more accurate, slower)."""
    bits = len(train_samples[0])
    rows = list(zip(train_samples, train_parity))[: SETTINGS["samples"]]
    best, fewest = (), len(rows) + 1
    for weight in range(SETTINGS["weight"] + 1):
        for secret in itertools.combinations(range(bits), weight):
            errors = sum(sum(x[i] for i in secret) % 2 != y for x, y in rows)
            if errors < fewest:
                best, fewest = secret, errors
    return [sum(x[i] for i in best) % 2 for x in test_samples]
