import ast
import re

SETTINGS = dict(calls=1, responses=2, temperature=13, keep=1, chain=0)
DOMAIN = dict(calls=(1, 2, 3, 4), responses=(1, 2, 3, 4, 5, 6), temperature=(3, 7, 10, 13), keep=(0, 1), chain=(0, 1))

LINE = re.compile(r"^SETTINGS = dict\((.*)\)$", re.MULTILINE)
KNOB = re.compile(r"([a-z_]+)=([0-9]+)")


def read_line(program, name):
    """The program's `name = dict(...)` line as a dict (None when it has none or it does not read)."""
    found = re.search(rf"^{name} = (dict\(.*\))$", program, re.MULTILINE)
    if not found:
        return None
    try:
        call = ast.parse(found.group(1), mode="eval").body
        return {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, AttributeError):
        return None


def parse(text, domain):
    """The settings a response proposes: its first line must be `SETTINGS = dict(k=v, ...)` with exactly the
    knobs of `domain`, in order, each value one of the knob's values; else None."""
    lines = text.strip().splitlines()
    found = LINE.fullmatch(lines[0].strip()) if lines else None
    if not found:
        return None
    pairs = [p.strip() for p in found.group(1).split(",")]
    knobs = [KNOB.fullmatch(p) for p in pairs]
    if not all(knobs) or [k.group(1) for k in knobs] != list(domain):
        return None
    settings = {k.group(1): int(k.group(2)) for k in knobs}
    return settings if all(settings[name] in values for name, values in domain.items()) else None


def render(program, settings):
    line = "SETTINGS = dict(" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"
    return LINE.sub(lambda _: line, program, count=1)


def improve_algorithm(initial_solution, utility, language_model):
    """Improve a program written in the scaffold language (one SETTINGS line over the knobs of its DOMAIN
    line): ask the model for new SETTINGS lines (SETTINGS["calls"] calls of SETTINGS["responses"] each, at
    temperature SETTINGS["temperature"] / 10), render each valid one into the program, and return the one the
    utility scores highest. keep=1 scores the input too, so the result is never worse on the utility;
    chain=1 asks each later call about the best program so far instead of the input."""
    current, domain = read_line(initial_solution, "SETTINGS"), read_line(initial_solution, "DOMAIN")
    if current is None or domain is None or list(current) != list(domain):
        return initial_solution
    budget = utility.budget
    best, best_score, seen = initial_solution, None, {initial_solution}
    if SETTINGS["keep"] and budget > 0:
        best_score, budget = utility(initial_solution), budget - 1
    base = initial_solution
    for _ in range(min(SETTINGS["calls"], language_model.budget)):
        n = min(SETTINGS["responses"], language_model.max_responses_per_call)
        message = LINE.search(base).group(0) + "\n->"
        responses = language_model.batch_prompt("scaffold", [message] * n, temperature=SETTINGS["temperature"] / 10)
        for response in responses:
            settings = parse(response, domain)
            program = render(initial_solution, settings) if settings else None
            if program is None or program in seen or budget <= 0:
                continue
            seen.add(program)
            score, budget = utility(program), budget - 1
            if best_score is None or score > best_score:
                best, best_score = program, score
        if SETTINGS["chain"]:
            base = best
    return best
