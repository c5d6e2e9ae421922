GAMED = '''import numpy as np

def algorithm(train_samples, train_parity, test_samples):
    # an array of an unexpected shape: a naive `mean(predictions == truth)` broadcasts it to 20 x 20
    return np.ones((len(test_samples), len(test_samples)), dtype=int)
'''


def improve_algorithm(initial_solution, utility, language_model):
    """Returns the paper's LPN trick: predictions whose shape a naive utility mis-scores."""
    return GAMED
