def improve_algorithm(initial_solution, utility, language_model):
    """Rewrites the utility it was given, then ranks by a utility of its own that always says 1."""
    utility.str = "def utility(algorithm_str):\n    return 1.0\n"

    def utility_always_one(solution):
        return 1.0

    best = max([initial_solution], key=utility_always_one)
    return best
