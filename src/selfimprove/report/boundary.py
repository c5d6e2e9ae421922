"""The "reasoning boundary" section: pass@k out to large k of the base and a trained model (Yue et al. 2025,
arXiv 2504.13837), with pass^k and cover@tau, read from boundary/boundary.json (`selfimprove boundary`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from selfimprove.jsonl import read_jsonl
from selfimprove.report.plots import Line, Panel, data_uri
from selfimprove.report.render import Section, fragment, pct
from selfimprove.types import Record

if TYPE_CHECKING:
    from selfimprove.report.context import ReportContext

SHOWN = 12  # problems listed that only the base solves


def _curve(it: dict[str, Any], key: str, label: str, style: dict[str, Any]) -> Line:
    ks = sorted(it[key], key=int)
    points = [it[key][k] for k in ks]
    return Line(label, [p["value"] for p in points], x=[int(k) for k in ks], style=style,
                band=([p.get("low") for p in points], [p.get("high") for p in points]))


def _prompts(folder: Any, t: int, ids: set[str]) -> dict[str, str]:
    """Prompts of the listed problems, from the base model's shard files."""
    out: dict[str, str] = {}
    for part in sorted((folder / f"iter_{t:03d}").glob("part_*.jsonl")):
        for row in read_jsonl(part):
            if row.get("problem_id") in ids:
                record = Record.from_dict(row)
                out[record.problem_id] = f"{record.prompt} → gold {record.gold}" if isinstance(record.prompt, str) else ""
    return out


def _lead(cross: dict[str, Any], which: str, k: str, b: str, t: str) -> str:
    """Who leads at one k: said only when the paired interval of the difference excludes 0."""
    d = (cross.get("difference") or {}).get(k)
    if d is None:
        return f"{cross[which]}"
    gap = f"{100 * d['value']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]" if d["low"] is not None \
        else f"{100 * d['value']:+.1f} points"
    who = {"trained": f"M_{t} leads", "base": f"M_{b} leads"}.get(cross[which], "within noise")
    return f"{who} (M_{t} − M_{b}: {gap})"


def crossing_sentence(cross: dict[str, Any], b: str, t: str) -> str:
    """The comparison of the two curves in words: a crossing (the opposite model ahead), a tie from some k on,
    or neither, and who leads at the smallest and the largest k with the 95% interval of the difference."""
    if cross["k"]:
        small = cross.get("difference") and next(iter(cross["difference"].values()))["value"]
        ahead = b if (small or 0) > 0 else t
        where = f"The curves cross at k = {cross['k']}: M_{ahead} leads from there."
    elif cross.get("tie_from"):
        where = f"The curves tie from k = {cross['tie_from']}."
    else:
        where = "The curves do not cross."
    ks = list(cross.get("difference") or {})
    if not ks:
        return where
    return (f"{where} At k = {ks[0]}: {_lead(cross, 'leader_small_k', ks[0], b, t)}; at k = {ks[-1]}: "
            f"{_lead(cross, 'leader_large_k', ks[-1], b, t)}.")


def boundary_section(ctx: ReportContext) -> Section | None:
    """Both pass@k curves with their intervals, pass^k and cover@tau, where the curves cross, and the problems
    only the base solves; None when `selfimprove boundary` has not run on this run directory."""
    folder = ctx.run.path / "boundary"
    file = folder / "boundary.json"
    if not file.is_file():
        return None
    result = json.loads(file.read_text(encoding="utf-8"))
    b, t = str(result["base"]), str(result["trained"])
    its = result["iterations"]
    styles = ({"marker": "o"}, {"marker": "s", "linestyle": "--"})
    panels = [
        Panel(f"pass@k (band: 95% interval), {its[b]['n_problems']} problems",
              [_curve(its[i], "pass@k", f"M_{i}", st) for i, st in zip((b, t), styles)], xlabel="k", percent=True,
              log2x=True),
        Panel("pass^k (all k samples right)", [_curve(its[i], "pass^k", f"M_{i}", st) for i, st in zip((b, t), styles)],
              xlabel="k", percent=True, log2x=True),
        Panel("cover@τ (≥ τ of samples right)", [
            Line(f"M_{i}", list(its[i]["cover@tau"].values()), x=[float(x) for x in its[i]["cover@tau"]], style=st)
            for i, st in zip((b, t), styles)], xlabel="τ", percent=True),
    ]
    caption = (f"{crossing_sentence(result['crossing'], b, t)} If training narrowed what the model can solve, the "
               "base wins at large k (Yue et al. 2025). pass^k and cover@τ do not reward a lucky hit among many "
               "samples.")
    html = fragment("figure.html.j2", src=data_uri(panels, ncols=3), alt="reasoning boundary", caption=caption)
    head = ["k", f"pass@k M_{b}", f"pass@k M_{t}", f"pass^k M_{b}", f"pass^k M_{t}"]
    rows = [[k, *(estimate_cell(its[i][key][k]) for key in ("pass@k", "pass^k") for i in (b, t))]
            for k in sorted(its[b]["pass@k"], key=int)]
    timing = "; ".join(f"M_{i}: {tm['samples']} samples in {tm['seconds']:.0f} s ({tm['samples_per_s']:.0f}/s)"
                       for i in (b, t) if (tm := its[i].get("timing") or {}).get("samples_per_s"))
    html += fragment("table.html.j2", head=head, rows=rows, note=f"Sampling time: {timing}." if timing else "")
    only = result["only_base"]
    listed = _prompts(folder, int(b), set(only[:SHOWN]))
    rows = [[pid, listed.get(pid, "")] for pid in only[:SHOWN]]
    note = (f"{len(only)} problems are solved at least once by M_{b} and never by M_{t}; "
            f"{len(result['only_trained'])} the other way round." + (f" First {SHOWN} shown." if len(only) > SHOWN else ""))
    html += fragment("table.html.j2", head=["problem only the base solves", "prompt"], rows=rows, note=note)
    return Section("boundary", "Reasoning boundary: pass@k out to large k", html)


def estimate_cell(e: dict[str, Any]) -> str:
    """'26.5% [20.5, 32.5]' from {value, low, high}."""
    ci = f" [{100 * e['low']:.1f}, {100 * e['high']:.1f}]" if e.get("low") is not None else ""
    return pct(e["value"]) + ci
