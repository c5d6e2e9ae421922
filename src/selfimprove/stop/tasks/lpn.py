"""Learning parity with noise (STOP's main task, Zelikman et al. 2024 sec. 5.1): 10 bits, each secret bit
set with probability 0.3, 100 noisy training examples (5% of labels flipped), 20 test examples; an
instance that takes more than 100 ms scores 0."""

from __future__ import annotations

import random

from selfimprove.stop.tasks import DownstreamTask, Instance

BITS, P_SECRET, TRAIN, TEST, NOISE = 10, 0.3, 100, 20, 0.05


def make(rng: random.Random) -> Instance:
    secret = [int(rng.random() < P_SECRET) for _ in range(BITS)]
    samples = [[rng.randint(0, 1) for _ in range(BITS)] for _ in range(TRAIN + TEST)]
    parity = [sum(a * b for a, b in zip(s, secret, strict=True)) % 2 for s in samples]
    train_parity = [(p + (rng.random() < NOISE)) % 2 for p in parity[:TRAIN]]
    return {"args": [samples[:TRAIN], train_parity, samples[TRAIN:]], "truth": parity[TRAIN:]}


SEED_SOLUTION = '''import random

def algorithm(train_samples, train_parity, test_samples):
    """Predict the parity of each test sample."""
    return [random.randint(0, 1) for _ in test_samples]
'''

UTILITY_STR = '''import numpy as np

def utility(algorithm_str: str):
    """Learning parity with noise: the fraction of test parities predicted right, averaged over instances.
    Each instance: 10 bits, each secret bit set with probability 0.3, 100 training samples (labels
    flipped with probability 0.05), 20 test samples. An instance that takes over 100 ms scores 0."""
    exec(algorithm_str, globals())  # defines algorithm(train_samples, train_parity, test_samples)
    total = 0.0
    for train_samples, train_parity, test_samples, test_parity in instances:
        predictions = algorithm(train_samples, train_parity, test_samples)  # one 0/1 per test sample
        total += np.mean(np.array(predictions).reshape(-1) == np.array(test_parity))
    return total / len(instances)
'''

SCORER = '''
def check(output, truth, args):
    predictions = as_list(output, len(truth))
    return sum(bit(p) == t for p, t in zip(predictions, truth)) / len(truth)
'''

TASK = DownstreamTask(
    name="lpn",
    about="learning parity with noise: 10 bits, secret bit prob 0.3, 100 train / 20 test, 5% label noise",
    seed_solution=SEED_SOLUTION, utility_str=UTILITY_STR, make=make, scorer=SCORER,
    time_limit=0.1,
)
