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
    from selfimprove.report.sections import ReportContext

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
    cross = result["crossing"]
    where = (f"The curves cross at k = {cross['k']}: M_{b if cross['leader_small_k'] == 'trained' else t} leads from "
             "there." if cross["k"] else "The curves do not cross.")
    caption = (f"{where} At k = 1 the leader is the {cross['leader_small_k']} model, at the largest k the "
               f"{cross['leader_large_k']} one. If training narrowed what the model can solve, the base wins at large "
               "k (Yue et al. 2025). pass^k and cover@τ do not reward a lucky hit among many samples.")
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
