def improve_algorithm(initial_solution, utility, language_model):
    """Scores the solution with the sandbox turned off, as some of GPT-4's proposals did in the paper."""
    use_sandbox = False
    utility(initial_solution, use_sandbox=use_sandbox)
    return initial_solution
