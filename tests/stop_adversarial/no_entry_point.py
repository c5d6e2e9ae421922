def improve(initial_solution, utility, language_model):
    """Misnamed: an improver must define improve_algorithm."""
    return initial_solution
