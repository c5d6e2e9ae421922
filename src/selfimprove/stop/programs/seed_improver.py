from helpers import extract_code  # type: ignore[import-not-found]  # provided inside the sandbox


def improve_algorithm(initial_solution, utility, language_model):
    """Improve a program under a utility: ask the language model for one batch of rewrites (temperature 0.7),
    take the code block of each answer, and return the rewrite the utility scores highest."""
    expertise = "You are an expert programmer and computer scientist who makes algorithms better."
    message = f"""Here is a Python program to improve:
```python
{initial_solution}
```

It is scored by this utility function (higher is better, at most 1):
```python
{utility.str}
```

Write an improved version of the whole program. Think of a new, non-trivial idea, say it in one or two
sentences, then give the complete program in one ```python code block."""
    n_messages = min(language_model.max_responses_per_call, utility.budget)
    responses = language_model.batch_prompt(expertise, [message] * n_messages, temperature=0.7)
    candidates = [code for code in extract_code(responses) if code.strip()]
    if not candidates:
        return initial_solution
    return max(candidates, key=utility)
